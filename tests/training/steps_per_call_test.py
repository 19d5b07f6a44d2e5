"""Several optimizer steps per call of the train step (`train.steps_per_call`): the same run as
one step a call, evaluations and checkpoints on their exact steps, bit-exact resumes."""
import json

import jax
import numpy as np
import pytest

from configs import schema
from training import loop, validate


def _per_call(config, steps_per_call: int):
  """The tiny run (8 steps, evaluations every 4) with no periodic checkpoint, so that calls of
  several steps happen between the evaluations."""
  config.train.update(ckpt_every_tokens=0, steps_per_call=steps_per_call)
  return config


def _curve(workdir):
  return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def test_three_steps_a_call_train_the_run_of_one_step_a_call(tiny_config, tmp_path,
                                                             final_params, tensorboard_scalars):
  devices = jax.devices()[:1]
  one = loop.train_and_evaluate(_per_call(tiny_config, 1), tmp_path / "one", devices=devices)
  # Calls: steps 1-3 together, 4 alone (the evaluation at 4), 5-7 together, 8 alone (the end).
  three = loop.train_and_evaluate(_per_call(tiny_config, 3), tmp_path / "three",
                                  devices=devices)
  assert three["status"] == "completed" and three["steps"] == 8
  assert three["final_eval_loss"] == pytest.approx(one["final_eval_loss"], rel=1e-6)
  assert three["final_train_loss"] == pytest.approx(one["final_train_loss"], rel=1e-6)
  assert [r["step"] for r in _curve(tmp_path / "three")] == [4, 8]
  for expected, actual in zip(_curve(tmp_path / "one"), _curve(tmp_path / "three"), strict=True):
    assert actual["eval_loss"] == pytest.approx(expected["eval_loss"], rel=1e-6)
    assert actual["learning_rate"] == expected["learning_rate"]
  one_scalars = tensorboard_scalars(tmp_path / "one" / "tensorboard")
  three_scalars = tensorboard_scalars(tmp_path / "three" / "tensorboard")
  for tag in ("train/loss", "train/grad_norm", "train/learning_rate"):
    assert len(three_scalars[tag]) == 8
    np.testing.assert_allclose(three_scalars[tag], one_scalars[tag], rtol=1e-6)
  for expected, actual in zip(final_params(tmp_path / "one"), final_params(tmp_path / "three"),
                              strict=True):
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-7)


def test_a_stack_of_batches_shards_over_the_mesh_like_one_batch(tiny_config, tmp_path):
  one = loop.train_and_evaluate(_per_call(tiny_config, 1), tmp_path / "one",
                                devices=jax.devices()[:1])
  tiny_config.mesh.update(data=2, fsdp=2, tensor=2)
  eight = loop.train_and_evaluate(_per_call(tiny_config, 3), tmp_path / "eight")
  assert eight["final_eval_loss"] == pytest.approx(one["final_eval_loss"], rel=1e-5)


def test_a_run_preempted_inside_a_call_stops_after_it_and_resumes_bit_exactly(
    tiny_config, tmp_path, stop_at, final_params):
  devices = jax.devices()[:1]
  config = _per_call(tiny_config, 3)
  straight = loop.train_and_evaluate(config, tmp_path / "straight", devices=devices)
  # The stop asked for after step 5 is honoured at the end of the call of steps 5-7.
  preempted = loop.train_and_evaluate(config, tmp_path / "preempted", devices=devices,
                                      preemption=stop_at(5))
  assert preempted == {"status": "preempted", "step": 7}
  resumed = loop.train_and_evaluate(config, tmp_path / "preempted", devices=devices)
  assert resumed["final_eval_loss"] == straight["final_eval_loss"]
  assert resumed["final_train_loss"] == straight["final_train_loss"]
  for expected, actual in zip(final_params(tmp_path / "straight"),
                              final_params(tmp_path / "preempted"), strict=True):
    np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize("value", [0, -2])
def test_a_bad_steps_per_call_is_one_line_naming_it(tiny_config, value):
  tiny_config.train.steps_per_call = value
  with pytest.raises(validate.ConfigError, match=r"config.train.steps_per_call=.* must be a "
                                                 r"whole number >= 1"):
    validate.validate_config(tiny_config, device_count=1)


def test_the_default_leaves_run_ids_unchanged(tiny_config):
  """A run config from before the field existed has the id it has with the default."""
  older = tiny_config.copy_and_resolve_references()
  del older.train["steps_per_call"]
  assert schema.config_hash(tiny_config) == schema.config_hash(older)
  tiny_config.train.steps_per_call = 16
  assert schema.config_hash(tiny_config) != schema.config_hash(older)


def test_a_constant_schedule_without_warmup_logs_its_rate_at_every_step(tiny_config, tmp_path,
                                                                       tensorboard_scalars):
  tiny_config.optimizer.schedule = "constant"
  tiny_config.train.warmup_tokens = 0
  loop.train_and_evaluate(_per_call(tiny_config, 3), tmp_path, devices=jax.devices()[:1])
  rates = tensorboard_scalars(tmp_path / "tensorboard")["train/learning_rate"]
  np.testing.assert_allclose(rates, [tiny_config.optimizer.peak_learning_rate] * 8, rtol=1e-7)
