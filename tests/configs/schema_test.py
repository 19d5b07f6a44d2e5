"""configs/schema.py (JSON, hash, unknown keys of run and sweep configs) and configs/resolved.py."""
import hashlib
import importlib
import json
import pathlib

import pytest

from configs import base, resolved, schema
from configs.sweeps import base as sweep_base
from configs.sweeps import tiny
from scaling import launch

SWEEP_PRESETS = ("tiny", "demo", "stdlib", "isoflop_tiny", "gpu_1x", "tpu_v5e_8", "tpu_v4_32")


def test_hash_is_stable_and_sensitive():
  config = base.get_config()
  assert schema.config_hash(config) == schema.config_hash(base.get_config())
  assert len(schema.config_hash(config)) == 64
  config.train.batch_size = 32
  assert schema.config_hash(config) != schema.config_hash(base.get_config())


def test_hash_is_the_sha256_of_the_canonical_json_less_the_unhashed_sections():
  config = base.get_config()
  values = json.loads(schema.canonical_json(config))
  for section in schema.UNHASHED_SECTIONS:
    del values[section]
  for section, keys in schema.LATER_FIELDS.items():  # at their defaults: left out
    for key in keys:
      del values[section][key]
  text = json.dumps(values, sort_keys=True, separators=(",", ":"))
  assert schema.config_hash(config) == hashlib.sha256(text.encode()).hexdigest()
  fields = {key: schema.field_json(key, config[key]) for key in config}
  assert schema.hash_of_fields(fields) == schema.config_hash(config)
  config.logging.wandb = "online"  # an unhashed section
  assert schema.config_hash(config) == hashlib.sha256(text.encode()).hexdigest()
  config.data.synthetic_teacher_width = 64  # a later field set away from its default
  values["data"]["synthetic_teacher_width"] = 64
  text = json.dumps(values, sort_keys=True, separators=(",", ":"))
  assert schema.config_hash(config) == hashlib.sha256(text.encode()).hexdigest()


def test_canonical_json_is_sorted_and_compact():
  text = schema.canonical_json(base.get_config())
  assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
  assert json.loads(text)["logical_axis_rules"][0] == ["batch", ["data", "fsdp"]]


def test_round_trip_through_json_keeps_types_and_hash(tmp_path):
  config = base.get_config()
  config.optimizer.peak_learning_rate = 1e-3
  path = tmp_path / "config.json"
  path.write_text(json.dumps(schema.config_to_dict(config)))
  loaded = resolved.get_config(str(path))
  assert loaded.logical_axis_rules == config.logical_axis_rules
  assert isinstance(loaded.logical_axis_rules[0][1], tuple)
  assert schema.config_hash(loaded) == schema.config_hash(config)


def test_integer_json_for_a_float_field_is_accepted():
  loaded = schema.RUN.from_dict({"optimizer": {"peak_learning_rate": 1}})
  assert loaded.optimizer.peak_learning_rate == 1.0
  assert isinstance(loaded.optimizer.peak_learning_rate, float)


def test_unknown_run_keys_are_named():
  with pytest.raises(ValueError, match=r"unknown config key\(s\) train.batchsize, colour; fix "
                     r"the spelling or add them to configs/base.py"):
    schema.RUN.from_dict({"train": {"batchsize": 3}, "colour": 1})
  assert schema.RUN.unknown_keys({"model": {"d_model": 3, "width": 2}}) == ["model.width"]


def test_resolved_needs_an_existing_file(tmp_path):
  with pytest.raises(ValueError, match="needs the path of a config.json"):
    resolved.get_config(None)
  with pytest.raises(ValueError, match="is not a file"):
    resolved.get_config(str(tmp_path / "missing.json"))


@pytest.mark.parametrize("name", SWEEP_PRESETS)
def test_every_sweep_preset_declares_only_schema_keys(name):
  sweep = importlib.import_module(f"configs.sweeps.{name}").get_config()
  assert schema.SWEEP.unknown_keys(sweep) == []


def test_unknown_sweep_keys_are_named_down_to_the_base_run_config():
  sweep = tiny.get_config()
  sweep.grid.size = (10_000,)            # a typo of grid.sizes
  sweep.base.train.batchsize = 8         # a typo inside the base run config
  sweep.analysis_resamples = 300         # a field the schema moved into `analysis`
  with pytest.raises(ValueError, match=r"unknown sweep config key\(s\) analysis_resamples, "
                     r"base.train.batchsize, grid.size; fix the spelling or add them to "
                     r"configs/sweeps/base.py"):
    schema.SWEEP.check(sweep)


def test_open_maps_of_a_sweep_take_any_key():
  sweep = tiny.get_config()
  sweep.grid.shape_rule = dict(head_dim=8, aspect_ratio=24.0)
  sweep.hparams.learning_rate.table = {"n10k": 1e-2}
  sweep.launch.resources = {"TPU": 4}
  assert schema.SWEEP.unknown_keys(sweep) == []


def test_a_sweep_round_trips_through_json():
  sweep = importlib.import_module("configs.sweeps.stdlib").get_config()
  loaded = schema.SWEEP.from_dict(json.loads(schema.canonical_json(sweep)))
  assert schema.config_hash(loaded) == schema.config_hash(sweep)
  assert loaded.grid.compute_budgets == sweep.grid.compute_budgets
  assert dict(loaded.grid.shape_rule) == dict(sweep.grid.shape_rule)
  assert schema.SWEEP.from_dict({}).to_dict() == sweep_base.get_config().to_dict()


def test_launch_refuses_an_unknown_sweep_key_before_planning(tmp_path):
  sweep = tiny.get_config("quick")
  sweep.schedule.evals_per_runs = 2
  with pytest.raises(ValueError, match=r"unknown sweep config key\(s\) schedule.evals_per_runs"):
    launch.dry_run(sweep, pathlib.Path(tmp_path), max_parallel=1)
  assert not any(tmp_path.iterdir())


def test_hash_of_the_base_config_is_pinned():
  # Run ids end with this hash: a change here renames every run of every existing sweep.
  assert schema.config_hash(base.get_config()) == (
      "586852597d78b40fb60a30dad9286869b1c571a0fb94944d6e635dd814bb516f")
