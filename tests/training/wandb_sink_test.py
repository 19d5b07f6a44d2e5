"""Weights & Biases as a metrics sink (training/wandb_sink.py), offline: the run is read back
from its .wandb file with an independent reader of the record log. Where metrics go is no part
of a run's identity."""
import json
import logging
import pathlib
import struct
import zlib

import jax
import pytest

from configs import schema
from configs.sweeps import base as sweep_base
from scaling import runs
from training import loop
from training import validate
from training import wandb_sink

pytest.importorskip("wandb")
from wandb.proto import wandb_internal_pb2  # noqa: E402  # pylint: disable=g-import-not-at-top

_BLOCK = 32768  # the log's block size; a record never straddles a block's last 6 bytes
_HEADER = struct.Struct("<4sHB")  # ':W&B', magic 0xBEE1, version 0
_RECORD = struct.Struct("<IHB")   # crc32 of type + data, data length, type (1 full, 2-4 parts)


def read_records(path: pathlib.Path) -> list:
  """The protobuf Records of a .wandb file (a LevelDB-style log of 32 KiB blocks)."""
  data = path.read_bytes()
  assert _HEADER.unpack_from(data) == (b":W&B", 0xBEE1, 0)
  records, position, pending = [], _HEADER.size, b""
  while position + _RECORD.size <= len(data):
    if _BLOCK - position % _BLOCK < _RECORD.size:
      position += _BLOCK - position % _BLOCK
      continue
    checksum, length, kind = _RECORD.unpack_from(data, position)
    payload = data[position + _RECORD.size:position + _RECORD.size + length]
    position += _RECORD.size + length
    if kind == 0:
      break
    assert zlib.crc32(bytes([kind]) + payload) == checksum
    pending += payload
    if kind in (1, 4):
      record = wandb_internal_pb2.Record()
      record.ParseFromString(pending)
      records.append(record)
      pending = b""
  return records


@pytest.fixture
def wandb_home(tmp_path, monkeypatch) -> pathlib.Path:
  """No credentials and every W&B directory under tmp_path."""
  home = tmp_path / "home"
  for name in ("WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_MODE", "WANDB_IDENTITY_TOKEN_FILE"):
    monkeypatch.delenv(name, raising=False)
  monkeypatch.setenv("HOME", str(home))
  for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
    monkeypatch.setenv(name, str(home / name.lower()))
  return home


def _written_run(workdir: pathlib.Path) -> tuple[dict, dict[str, list[tuple[int, float]]]]:
  """(the run record's fields, {tag: [(step, value)]}) of the one offline run in workdir."""
  [log] = sorted((workdir / "wandb").glob("offline-run-*/run-*.wandb"))
  run, history = None, {}
  for record in read_records(log):
    kind = record.WhichOneof("record_type")
    if kind == "run":
      run = record.run
    elif kind == "history":
      items = {item.key or "/".join(item.nested_key): json.loads(item.value_json)
               for item in record.history.item}
      for tag, value in items.items():
        if not tag.startswith("_"):
          history.setdefault(tag, []).append((items["_step"], value))
  config = {item.key: json.loads(item.value_json) for item in run.config.update}
  return dict(id=run.run_id, name=run.display_name, group=run.run_group, project=run.project,
              config=config), history


def test_offline_run_holds_the_tensorboard_scalars_and_config(tiny_config, tmp_path, wandb_home,
                                                              tensorboard_scalars):
  sweep = tmp_path / "my_sweep"
  workdir = sweep / "runs" / "s1-2k-0123abcd"
  workdir.mkdir(parents=True)
  (sweep / "sweep.json").write_text("{}")
  tiny_config.logging.wandb = "offline"
  loop.train_and_evaluate(tiny_config, workdir, devices=jax.devices()[:1])
  run, history = _written_run(workdir)
  assert run["name"] == "s1-2k-0123abcd" and run["group"] == "my_sweep"
  assert run["project"] == "scaling-lab" and run["id"].startswith("s1-2k-0123abcd-")
  assert run["config"]["model"]["d_model"] == 32
  assert run["config"]["train"]["train_tokens"] == 2048
  assert run["config"]["logging"]["wandb"] == "offline"
  expected = tensorboard_scalars(workdir / "tensorboard")
  assert set(history) == set(expected) and "eval/loss" in history
  for tag, values in expected.items():
    assert [value for _, value in history[tag]] == pytest.approx(values, rel=1e-6), tag
  assert [step for step, _ in history["eval/loss"]] == [4, 8]


def test_online_without_credentials_logs_offline_and_says_so(tiny_config, tmp_path, wandb_home,
                                                             caplog):
  tiny_config.logging.wandb = "online"
  with caplog.at_level(logging.WARNING):
    sink = wandb_sink.open_sink(tiny_config, tmp_path / "run")
    sink.log({"train/loss": 2.5}, step=1)
    sink.close()
  warnings = [r.getMessage() for r in caplog.records if "no W&B credentials" in r.getMessage()]
  assert len(warnings) == 1 and "logging offline" in warnings[0]
  assert len(warnings[0].splitlines()) == 1
  _, history = _written_run(tmp_path / "run")
  assert history == {"train/loss": [(1, 2.5)]}


def test_off_by_default_and_bad_modes_are_refused(tiny_config, tmp_path):
  assert tiny_config.logging.wandb == "off"
  assert wandb_sink.open_sink(tiny_config, tmp_path) is None
  tiny_config.logging.wandb = "cloud"
  with pytest.raises(ValueError, match=r"config.logging.wandb='cloud': use one of off, offline"):
    validate.validate_config(tiny_config, 1, 1)


def test_where_metrics_go_changes_neither_run_ids_nor_the_sweep(tiny_config):
  before = schema.config_hash(tiny_config)
  tiny_config.logging.update(wandb="online", wandb_project="elsewhere")
  assert schema.config_hash(tiny_config) == before
  tiny_config.seed = 1
  assert schema.config_hash(tiny_config) != before
  sweep = sweep_base.get_config()
  identity = runs.sweep_identity(sweep)
  sweep.base.logging.wandb = "offline"
  assert runs.sweep_identity(sweep) == identity and "logging" not in identity["base"]
