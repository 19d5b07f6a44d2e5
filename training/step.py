"""The train step: next-token cross-entropy, gradient accumulation, one AdamW update.

Batches are int32 token windows [batch, seq_len + 1]: inputs are the first seq_len tokens,
targets the last seq_len. Losses are in nats/token, averaged over every predicted position.
"""
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from training import mesh as mesh_lib

Metrics = dict[str, jax.Array]


def token_losses(graphdef: nnx.GraphDef, params: nnx.State, rest: nnx.State,
                 batch_BxT: jax.Array) -> jax.Array:
  """Cross-entropy of each next-token prediction, nats, shape [batch, seq_len]."""
  model = nnx.merge(graphdef, params, rest)
  inputs_BxL, targets_BxL = batch_BxT[:, :-1], batch_BxT[:, 1:]
  logits_BxLxV = model(inputs_BxL).astype(jnp.float32)
  return optax.softmax_cross_entropy_with_integer_labels(logits_BxLxV, targets_BxL)


def mean_loss(graphdef: nnx.GraphDef, params: nnx.State, rest: nnx.State,
              batch_BxT: jax.Array) -> jax.Array:
  """Mean next-token cross-entropy over the batch, nats/token."""
  return token_losses(graphdef, params, rest, batch_BxT).mean()


def _micro_batches(batch_BxT: jax.Array, grad_accum_steps: int) -> jax.Array:
  """[B, T] -> [A, B/A, T]; micro-batch a takes rows a, a+A, ... so that every data shard
  contributes equally to every micro-batch (no cross-device reshuffle)."""
  batch_size, width = batch_BxT.shape
  stacked = batch_BxT.reshape(batch_size // grad_accum_steps, grad_accum_steps, width)
  stacked = stacked.transpose(1, 0, 2)
  return jax.lax.with_sharding_constraint(
      stacked, jax.sharding.PartitionSpec(None, mesh_lib.BATCH_AXES))


def make_train_step(graphdef: nnx.GraphDef, rest: nnx.State,
                    tx: optax.GradientTransformationExtraArgs, grad_accum_steps: int,
                    params_sharding: Any, opt_sharding: Any, stacked: bool = False
                    ) -> Callable[[nnx.State, Any, jax.Array, jax.Array],
                                  tuple[nnx.State, Any, Metrics]]:
  """A jitted `step(params, opt_state, batch, learning_rate) -> (params, opt_state, metrics)`.

  Pure; params and optimizer state are donated and come back with the shardings they went in
  with (pinned, so the step never recompiles). The learning rate (a float32 scalar, the
  schedule's value at this step) is an input, passed to `tx.update` (see
  `optimizer.make_optimizer`), so runs that differ only in their schedule share the program. With `grad_accum_steps > 1` the gradients of
  equal micro-batches are averaged in a scan before the single optimizer update, which equals
  the full-batch gradient. Metrics: loss (nats/token, before the update), grad_norm (global L2,
  before clipping), update_norm and param_norm (after the update).

  `stacked=True` gives `steps(params, opt_state, batches, learning_rates)` instead: one call
  applies K updates in a scan, in order, to a stack of K batches [K, batch, seq_len + 1] with
  their K learning rates [K] (K is the stack's length), and the metrics come back stacked, [K]
  each. These are the updates of K calls of
  the one-step program (equal up to XLA's fusion choices, within fp32 rounding) for one
  dispatch and one host-to-device copy: small models, whose step is shorter than the per-call
  overhead, train faster this way.
  """
  loss_and_grad = jax.value_and_grad(
      lambda params, batch: mean_loss(graphdef, params, rest, batch))

  def step(params: nnx.State, opt_state: Any, batch_BxT: jax.Array, learning_rate: jax.Array
           ) -> tuple[nnx.State, Any, Metrics]:
    if grad_accum_steps == 1:
      loss, grads = loss_and_grad(params, batch_BxT)
    else:
      def accumulate(carry, micro_batch):
        loss_sum, grad_sum = carry
        loss, grads = loss_and_grad(params, micro_batch)
        return (loss_sum + loss, jax.tree.map(jnp.add, grad_sum, grads)), None

      zeros = (jnp.zeros((), jnp.float32), jax.tree.map(jnp.zeros_like, params))
      (loss_sum, grad_sum), _ = jax.lax.scan(
          accumulate, zeros, _micro_batches(batch_BxT, grad_accum_steps))
      loss = loss_sum / grad_accum_steps
      grads = jax.tree.map(lambda g: g / grad_accum_steps, grad_sum)
    updates, opt_state = tx.update(grads, opt_state, params, learning_rate=learning_rate)
    params = optax.apply_updates(params, updates)
    metrics = dict(loss=loss, grad_norm=optax.tree.norm(grads),
                   update_norm=optax.tree.norm(updates), param_norm=optax.tree.norm(params))
    return params, opt_state, metrics

  def steps(params: nnx.State, opt_state: Any, batches_KxBxT: jax.Array,
            learning_rates_K: jax.Array) -> tuple[nnx.State, Any, Metrics]:
    def one(carry, batch_and_rate):
      params, opt_state, metrics = step(*carry, *batch_and_rate)
      return (params, opt_state), metrics

    (params, opt_state), metrics = jax.lax.scan(one, (params, opt_state),
                                                (batches_KxBxT, learning_rates_K))
    return params, opt_state, metrics

  return jax.jit(steps if stacked else step, donate_argnums=(0, 1),
                 out_shardings=(params_sharding, opt_sharding, None))
