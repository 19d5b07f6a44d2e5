"""Tests for training/optimizer.py: schedule values against closed forms, the decay mask."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from configs import base
from training import budget as budget_lib
from training import optimizer


def _budget(total: int, warmup: int) -> budget_lib.StepBudget:
  return budget_lib.StepBudget(tokens_per_step=1, total_steps=total, warmup_steps=warmup,
                               eval_every_steps=0, ckpt_every_steps=0, eval_batches=1,
                               micro_batch_size=1)


def _optimizer_config(**overrides):
  config = base.get_config().optimizer
  config.update(peak_learning_rate=1e-2, **overrides)
  return config


def test_cosine_schedule_matches_closed_form():
  schedule = optimizer.make_schedule(_optimizer_config(final_lr_fraction=0.1), _budget(110, 10))
  peak, final = 1e-2, 1e-3
  assert float(schedule(0)) == 0.0
  np.testing.assert_allclose(float(schedule(5)), peak * 5 / 10, rtol=1e-6)
  for step in (10, 35, 60, 85, 110):
    progress = (step - 10) / 100
    expected = final + (peak - final) * 0.5 * (1 + math.cos(math.pi * progress))
    np.testing.assert_allclose(float(schedule(step)), expected, rtol=1e-5)


def test_constant_schedule():
  schedule = optimizer.make_schedule(_optimizer_config(schedule="constant"), _budget(50, 4))
  np.testing.assert_allclose([float(schedule(s)) for s in (2, 4, 30, 50)],
                             [5e-3, 1e-2, 1e-2, 1e-2], rtol=1e-6)


def test_wsd_schedule_warmup_stable_then_linear_decay():
  config = _optimizer_config(schedule="wsd", decay_fraction=0.2, final_lr_fraction=0.0)
  schedule = optimizer.make_schedule(config, _budget(100, 10))  # decay over steps 80..100
  values = [float(schedule(s)) for s in (5, 10, 50, 80, 90, 100)]
  np.testing.assert_allclose(values, [5e-3, 1e-2, 1e-2, 1e-2, 5e-3, 0.0], atol=1e-9)


def test_wsd_one_minus_sqrt_decay_matches_closed_form():
  config = _optimizer_config(schedule="wsd", decay_fraction=0.25, decay_shape="1-sqrt",
                             final_lr_fraction=0.1)
  schedule = optimizer.make_schedule(config, _budget(80, 8))  # decay over steps 60..80
  peak, final = 1e-2, 1e-3
  for step in (60, 65, 70, 79, 80):
    expected = final + (peak - final) * (1 - math.sqrt((step - 60) / 20))
    np.testing.assert_allclose(float(schedule(step)), expected, rtol=1e-6)
  assert optimizer.decay_steps(config, _budget(80, 8)) == 20


@pytest.mark.parametrize("shape", optimizer.DECAY_SHAPES)
def test_wsd_stable_phase_is_bitwise_the_constant_schedule(shape):
  """What a branch restored from a constant-LR trunk relies on: the same rates, bit for bit,
  before the decay (evaluated as the jitted step does, on int32 counts)."""
  wsd = optimizer.make_schedule(
      _optimizer_config(schedule="wsd", decay_fraction=0.2, decay_shape=shape), _budget(100, 7))
  constant = optimizer.make_schedule(_optimizer_config(schedule="constant"), _budget(300, 7))
  steps = jnp.arange(80, dtype=jnp.int32)
  np.testing.assert_array_equal(np.asarray(jax.jit(jax.vmap(wsd))(steps)),
                                np.asarray(jax.jit(jax.vmap(constant))(steps)))
  assert float(wsd(80)) == float(constant(80)) and float(wsd(81)) < float(constant(81))


def test_unknown_decay_shape():
  with pytest.raises(ValueError, match="decay_shape='cosine' is unknown"):
    optimizer.make_schedule(_optimizer_config(schedule="wsd", decay_shape="cosine"),
                            _budget(10, 0))


def test_no_warmup_starts_at_peak():
  schedule = optimizer.make_schedule(_optimizer_config(schedule="constant"), _budget(10, 0))
  assert float(schedule(0)) == pytest.approx(1e-2)


def test_unknown_schedule():
  with pytest.raises(ValueError, match="schedule='linear' is unknown"):
    optimizer.make_schedule(_optimizer_config(schedule="linear"), _budget(10, 0))


class _Toy(nnx.Module):

  def __init__(self):
    self.kernel = nnx.Param(jnp.ones((3, 4)), out_sharding=("embed", "mlp"),
                           eager_sharding=False)
    self.norm_scale = nnx.Param(jnp.ones((2, 4)), out_sharding=("layers", "embed"),
                               eager_sharding=False)
    self.bias = nnx.Param(jnp.ones((4,)))


def test_weight_decay_skips_norms_and_biases_and_is_decoupled():
  params = nnx.state(_Toy(), nnx.Param)
  mask = optimizer.weight_decay_mask(params)
  assert (mask["kernel"], mask["norm_scale"], mask["bias"]) == (True, False, False)
  config = _optimizer_config(schedule="constant", weight_decay=0.5, grad_clip_norm=0.0)
  tx = optimizer.make_optimizer(config, params)
  zero_grads = jax.tree.map(jnp.zeros_like, params)
  rate = optimizer.make_schedule(config, _budget(10, 0))(0)
  updates, _ = tx.update(zero_grads, tx.init(params), params, learning_rate=rate)
  # With zero gradients only decoupled decay moves a parameter: -lr * wd * param.
  np.testing.assert_allclose(updates["kernel"][...], -1e-2 * 0.5, rtol=1e-6)
  assert not np.any(updates["norm_scale"][...]) and not np.any(updates["bias"][...])



def test_the_given_learning_rate_reproduces_optax_adamw_with_the_schedule():
  """The same updates, and a state of the same layout (checkpoints restore across), as
  `optax.adamw` evaluating the schedule itself from its step count."""
  params = nnx.state(_Toy(), nnx.Param)
  config = _optimizer_config(schedule="wsd", weight_decay=0.1, grad_clip_norm=0.0)
  schedule = optimizer.make_schedule(config, _budget(10, 2))
  ours = optimizer.make_optimizer(config, params)
  reference = optax.chain(optax.identity(), optax.adamw(
      schedule, b1=config.b1, b2=config.b2, eps=config.eps, weight_decay=config.weight_decay,
      mask=optimizer.weight_decay_mask(params)))
  our_state, reference_state = ours.init(params), reference.init(params)
  assert jax.tree.structure(our_state) == jax.tree.structure(reference_state)
  rates = np.asarray(schedule(jnp.arange(10)), np.float32)
  update = jax.jit(lambda g, s, p, rate: ours.update(g, s, p, learning_rate=rate))
  update_reference = jax.jit(reference.update)
  for index in range(10):
    grads = jax.tree.map(lambda x: jnp.sin(x + index), params)
    our_updates, our_state = update(grads, our_state, params, rates[index])
    reference_updates, reference_state = update_reference(grads, reference_state, params)
    for got, expected in zip(jax.tree.leaves(our_updates), jax.tree.leaves(reference_updates)):
      np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-12)
  assert int(our_state[1][2].count) == int(reference_state[1][2].count) == 10
