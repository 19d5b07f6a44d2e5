"""Tests for training/step.py: loss convention and gradient accumulation."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from model import ModelConfig, Transformer
from training import optimizer, step


def _tiny_model():
  config = ModelConfig(vocab_size=16, d_model=16, n_layers=1, n_heads=2, n_kv_heads=2, d_ff=32,
                       seq_len=8)
  return nnx.split(Transformer(config, rngs=nnx.Rngs(params=0)), nnx.Param, ...)


def test_token_losses_are_next_token_cross_entropy_in_nats():
  graphdef, params, rest = _tiny_model()
  batch = jax.random.randint(jax.random.key(1), (2, 9), 0, 16)
  losses = jax.jit(step.token_losses, static_argnums=0)(graphdef, params, rest, batch)
  logits = jax.jit(lambda p, r, x: nnx.merge(graphdef, p, r)(x))(params, rest, batch[:, :-1])
  log_probs = jax.nn.log_softmax(logits)
  expected = -jnp.take_along_axis(log_probs, batch[:, 1:, None], axis=-1)[..., 0]
  np.testing.assert_allclose(losses, expected, rtol=1e-5)
  assert abs(float(losses.mean()) - math.log(16)) < 0.5  # near-uniform at initialization


def test_gradient_accumulation_equals_the_full_batch_step():
  graphdef, params, rest = _tiny_model()
  tx = optax.chain(optax.scale_by_adam(), optimizer.scale_by_given_learning_rate())
  batch = jax.random.randint(jax.random.key(2), (4, 9), 0, 16)
  outputs = []
  one_device = jax.make_mesh((1, 1, 1), ("data", "fsdp", "tensor"), devices=jax.devices()[:1],
                             axis_types=(jax.sharding.AxisType.Auto,) * 3)
  for accumulation in (1, 2):
    copy = jax.tree.map(jnp.array, params)
    train_step = step.make_train_step(graphdef, rest, tx, accumulation, None, None)
    with jax.set_mesh(one_device):
      new_params, _, metrics = train_step(copy, tx.init(copy), batch, np.float32(1e-2))
    outputs.append((jax.tree.leaves(new_params), metrics))
  (full_params, full_metrics), (accum_params, accum_metrics) = outputs
  np.testing.assert_allclose(accum_metrics["loss"], full_metrics["loss"], rtol=1e-6)
  np.testing.assert_allclose(accum_metrics["grad_norm"], full_metrics["grad_norm"], rtol=1e-5)
  for full, accumulated in zip(full_params, accum_params):
    np.testing.assert_allclose(accumulated, full, rtol=1e-5, atol=1e-7)


def test_a_stacked_call_applies_its_steps_in_order_with_their_learning_rates():
  graphdef, params, rest = _tiny_model()
  tx = optax.chain(optax.scale_by_adam(), optimizer.scale_by_given_learning_rate())
  batches = jax.random.randint(jax.random.key(3), (3, 4, 9), 0, 16)
  rates = np.array([1e-2, 5e-3, 0.0], np.float32)
  one_device = jax.make_mesh((1, 1, 1), ("data", "fsdp", "tensor"), devices=jax.devices()[:1],
                             axis_types=(jax.sharding.AxisType.Auto,) * 3)
  single = step.make_train_step(graphdef, rest, tx, 1, None, None)
  stacked = step.make_train_step(graphdef, rest, tx, 1, None, None, stacked=True)
  with jax.set_mesh(one_device):
    one_by_one = jax.tree.map(jnp.array, params)
    state, losses = tx.init(one_by_one), []
    for batch, rate in zip(batches, rates):
      one_by_one, state, metrics = single(one_by_one, state, batch, rate)
      losses.append(float(metrics["loss"]))
    copy = jax.tree.map(jnp.array, params)
    together, together_state, stacked_metrics = stacked(copy, tx.init(copy), batches, rates)
  assert stacked_metrics["loss"].shape == (3,)
  np.testing.assert_allclose(stacked_metrics["loss"], losses, rtol=1e-6)
  assert int(together_state[1].count) == int(state[1].count) == 3
  for expected, actual in zip(jax.tree.leaves(one_by_one), jax.tree.leaves(together)):
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-7)
