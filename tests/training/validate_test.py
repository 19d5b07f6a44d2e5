"""Every config/workdir validation error of issue item 10, each with its one-line message."""
import json

import pytest

from configs import schema
from scaling import grid
from training import validate


def _check(config, devices=1):
  validate.validate_config(config, device_count=devices)


@pytest.mark.parametrize("field, value, message", [
    ("d_model", 30, r"model.d_model=30 is not divisible by model.n_heads=4"),
    ("n_kv_heads", 3, r"model.n_kv_heads=3 does not divide model.n_heads=4"),
])
def test_model_shape_errors(tiny_config, field, value, message):
  tiny_config.model.update(n_heads=4, n_kv_heads=2, d_model=32)
  tiny_config.model[field] = value
  with pytest.raises(validate.ConfigError, match=message):
    _check(tiny_config)


def test_mesh_product_must_equal_device_count(tiny_config):
  tiny_config.mesh.update(data=2, fsdp=2, tensor=1)
  with pytest.raises(validate.ConfigError, match=r"= 4 but there are 8 devices"):
    _check(tiny_config, devices=8)


def test_batch_must_divide_over_data_parallel(tiny_config):
  tiny_config.mesh.update(data=-1, fsdp=1, tensor=1)
  tiny_config.train.update(batch_size=12, train_tokens=12 * 32 * 4, warmup_tokens=0,
                           eval_every_tokens=0, ckpt_every_tokens=0, eval_tokens=12 * 32)
  with pytest.raises(validate.ConfigError, match=r"batch_size=12 is not divisible by the "
                     r"data-parallel size 8"):
    _check(tiny_config, devices=8)
  tiny_config.train.update(batch_size=16, grad_accum_steps=4, train_tokens=16 * 32 * 4,
                           eval_tokens=16 * 32)
  with pytest.raises(validate.ConfigError, match=r"grad_accum_steps = 4 is not divisible"):
    _check(tiny_config, devices=8)


def test_token_budget_below_one_step(tiny_config):
  tiny_config.train.train_tokens = 100
  with pytest.raises(validate.ConfigError, match=r"train_tokens=100 is below one step of 256"):
    _check(tiny_config)


def test_unknown_config_keys(tiny_config):
  with tiny_config.unlocked():
    tiny_config.train.learning_rate = 1.0
  with pytest.raises(validate.ConfigError, match=r"unknown config key\(s\) train.learning_rate"):
    _check(tiny_config)


def test_vocab_and_optimizer_errors(tiny_config):
  tiny_config.model.vocab_size = 32
  with pytest.raises(validate.ConfigError, match=r"vocab_size=32 is below the tokenizer's"):
    _check(tiny_config)
  tiny_config.model.vocab_size = 64
  tiny_config.optimizer.peak_learning_rate = float("nan")
  with pytest.raises(validate.ConfigError, match=r"peak_learning_rate=nan must be positive"):
    _check(tiny_config)


def test_workdir_holding_a_different_config(tiny_config, tmp_path):
  assert not validate.check_workdir(tiny_config, tmp_path)
  (tmp_path / "config.json").write_text(json.dumps(schema.config_to_dict(tiny_config)))
  assert validate.check_workdir(tiny_config, tmp_path)
  tiny_config.train.batch_size = 16
  with pytest.raises(validate.ConfigError, match=r"holds a different config .* use a new "
                     r"--workdir"):
    validate.check_workdir(tiny_config, tmp_path)


def test_valid_config_passes(tiny_config):
  _check(tiny_config)


def test_shared_sections_check_each_section_object_once():
  shared, calls = validate.SharedSections(), []

  def check(section, limit):
    calls.append(section)
    if len(section) > limit:
      raise ValueError(f"{len(section)} > {limit}")
    return len(section)

  small, large = [1], [1, 2, 3]
  assert [shared.once(check, small, 2) for _ in range(3)] == [1, 1, 1]
  for _ in range(2):
    with pytest.raises(ValueError, match="3 > 2"):
      shared.once(check, large, 2)
  assert shared.once(check, large, 5) == 3
  assert calls == [small, large, large]


def test_validation_with_shared_sections_finds_the_same_first_error(tiny_config):
  configs = grid.RunConfigs(tiny_config)  # run configs sharing sections, as a sweep's do
  tokens_per_step = tiny_config.train.batch_size * tiny_config.model.seq_len
  runs = [configs.config({"train.train_tokens": tokens}) for tokens in
          (4 * tokens_per_step, 4 * tokens_per_step + 1, 8 * tokens_per_step)]
  runs.append(configs.config({"optimizer.peak_learning_rate": -1.0}))
  runs.append(configs.config({"optimizer.peak_learning_rate": -1.0,
                              "train.train_tokens": 4 * tokens_per_step + 1}))
  shared = validate.SharedSections()

  def first_error(config, shared=None):
    try:
      validate.validate_config(config, 1, shared=shared)
    except validate.ConfigError as error:
      return str(error)
    return None

  for _ in range(2):
    assert [first_error(config, shared) for config in runs] == [
        first_error(config) for config in runs]
  assert first_error(runs[0]) is None and "train_tokens" in first_error(runs[1])
  assert "peak_learning_rate" in first_error(runs[4])  # optimizer comes before budgets
