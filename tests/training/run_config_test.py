"""Tests for training/run_config.py and configs/resolved.py."""
import json

import pytest

from configs import base, resolved
from training import run_config


def test_hash_is_stable_and_sensitive():
  config = base.get_config()
  assert run_config.config_hash(config) == run_config.config_hash(base.get_config())
  assert len(run_config.config_hash(config)) == 64
  config.train.batch_size = 32
  assert run_config.config_hash(config) != run_config.config_hash(base.get_config())


def test_round_trip_through_json_keeps_types_and_hash(tmp_path):
  config = base.get_config()
  config.optimizer.peak_learning_rate = 1e-3
  path = tmp_path / "config.json"
  path.write_text(json.dumps(run_config.config_to_dict(config)))
  loaded = resolved.get_config(str(path))
  assert loaded.logical_axis_rules == config.logical_axis_rules
  assert isinstance(loaded.logical_axis_rules[0][1], tuple)
  assert run_config.config_hash(loaded) == run_config.config_hash(config)


def test_integer_json_for_a_float_field_is_accepted():
  loaded = run_config.config_from_dict({"optimizer": {"peak_learning_rate": 1}})
  assert loaded.optimizer.peak_learning_rate == 1.0
  assert isinstance(loaded.optimizer.peak_learning_rate, float)


def test_unknown_keys_rejected():
  with pytest.raises(ValueError, match=r"unknown config key\(s\) train.batchsize, colour"):
    run_config.config_from_dict({"train": {"batchsize": 3}, "colour": 1})
  assert run_config.unknown_keys({"model": {"d_model": 3, "width": 2}}) == ["model.width"]


def test_resolved_needs_an_existing_file(tmp_path):
  with pytest.raises(ValueError, match="needs the path of a config.json"):
    resolved.get_config(None)
  with pytest.raises(ValueError, match="is not a file"):
    resolved.get_config(str(tmp_path / "missing.json"))
