"""Learning-rate schedules and the AdamW optimizer, indexed by optimizer step.

The schedule gives the peak-relative learning rate of every parameter under the standard
parametrisation; under μP a parameter's update is further multiplied by its learning-rate
multiplier (`model.parametrization.learning_rate_multipliers`: 1/width multiplier for hidden
matrices, 1 for the rest), which is a per-parameter learning rate.

Schedules map an optimizer step (0-based count of updates already applied) to a learning rate.
All start with a linear warmup from 0 to the peak over `warmup_steps`; their length is the run's
own `total_steps` (from `training.budget`), so a shorter run decays faster.

A WSD run's stable phase is a constant schedule's: the first `total_steps - decay_steps` steps
of a 'wsd' run and of a 'constant' run with the same warmup give the same learning rates, bit
for bit, which is what lets a WSD branch start from a constant-LR trunk's checkpoint
(`training/branch.py`).
"""
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx

from model import ModelConfig, parametrization
from training.budget import StepBudget

SCHEDULES = ("cosine", "constant", "wsd")
DECAY_SHAPES = ("linear", "1-sqrt")  # wsd's decay: straight, or Hagele et al. 2024's 1 - sqrt


def decay_steps(optimizer_config: ml_collections.ConfigDict, budget: StepBudget) -> int:
  """Optimizer steps of a 'wsd' run's decay: `decay_fraction` of `total_steps`, rounded."""
  return round(optimizer_config.decay_fraction * budget.total_steps)


def _decay(peak: float, final: float, steps: int, shape: str) -> optax.Schedule:
  """peak -> final over `steps` steps: 'linear', or '1-sqrt' (final + (peak - final) *
  (1 - sqrt(progress)), progress = step / steps, held at final after the end)."""
  if shape == "linear":
    return optax.linear_schedule(peak, final, steps)
  if shape != "1-sqrt":
    raise ValueError(f"config.optimizer.decay_shape={shape!r} is unknown; use one of "
                     f"{', '.join(DECAY_SHAPES)}")

  def one_minus_sqrt(count: jax.Array) -> jax.Array:
    progress = jnp.clip(count / steps, 0.0, 1.0)
    return final + (peak - final) * (1.0 - jnp.sqrt(progress))
  return one_minus_sqrt


def make_schedule(optimizer_config: ml_collections.ConfigDict,
                  budget: StepBudget) -> optax.Schedule:
  """The learning-rate schedule of a run (learning rate per optimizer step).

  cosine: warmup, then cosine decay to `final_lr_fraction * peak` at `total_steps`.
  constant: warmup, then the peak.
  wsd: warmup, the peak until the last `decay_steps` of the run, then a decay of shape
    `decay_shape` (linear or 1-sqrt) to `final_lr_fraction * peak` at `total_steps`.
  """
  peak = optimizer_config.peak_learning_rate
  final = optimizer_config.final_lr_fraction * peak
  warmup, total = budget.warmup_steps, budget.total_steps
  warmup_schedule = optax.linear_schedule(0.0, peak, max(warmup, 1))
  name = optimizer_config.schedule
  if name == "cosine":
    decay = optax.cosine_decay_schedule(peak, max(total - warmup, 1), alpha=final / peak)
  elif name == "constant":
    decay = optax.constant_schedule(peak)
  elif name == "wsd":
    decaying = decay_steps(optimizer_config, budget)
    stable_steps = max(total - warmup - decaying, 0)
    decay = optax.join_schedules(
        [optax.constant_schedule(peak),
         _decay(peak, final, max(decaying, 1), optimizer_config.decay_shape)],
        [stable_steps])
  else:
    raise ValueError(
        f"config.optimizer.schedule={name!r} is unknown; use one of {', '.join(SCHEDULES)}")
  if warmup == 0:
    return decay
  return optax.join_schedules([warmup_schedule, decay], [warmup])


def _decays(variable: Any) -> bool:
  """Weight decay applies to matrices (embeddings, projections), not to norm scales or biases.

  A stacked-layer axis (logical name 'layers') does not count as a matrix dimension.
  """
  names = getattr(variable, "out_sharding", None)
  if names:
    return sum(name != "layers" for name in names) >= 2
  return variable.ndim >= 2


def weight_decay_mask(params: nnx.State) -> Any:
  """A pytree of booleans (prefix of `params`): True where decoupled weight decay applies."""
  return jax.tree.map(_decays, params, is_leaf=lambda x: isinstance(x, nnx.Variable))


def scale_by_multipliers(multipliers: Any) -> optax.GradientTransformation:
  """Multiplies each parameter's update by its entry of `multipliers` (floats, a prefix of the
  parameter tree); stateless."""

  def scale(updates: Any, params: Any = None) -> Any:
    del params
    return jax.tree.map(lambda multiplier, update: jax.tree.map(lambda u: u * multiplier, update),
                        multipliers, updates)
  return optax.stateless(scale)


def scale_by_given_learning_rate() -> optax.GradientTransformationExtraArgs:
  """Scales the updates by -learning_rate, the value passed as `update(...,
  learning_rate=)`: the step's learning rate is an input of the compiled step, read from the
  run's schedule on the host, so that one program serves every schedule, budget and peak of a
  shape (the trunk and all the branches of a ladder size). Its state is optax's schedule state,
  the count of updates applied, so the optimizer state has the layout of `optax.adamw` with a
  schedule (checkpoints of either restore into the other)."""

  def init(params: Any) -> optax.ScaleByScheduleState:
    del params
    return optax.ScaleByScheduleState(count=jnp.zeros([], jnp.int32))

  def update(updates: Any, state: optax.ScaleByScheduleState, params: Any = None, *,
             learning_rate: jax.Array, **extra_args: Any) -> tuple[Any, optax.ScaleByScheduleState]:
    del params, extra_args
    updates = jax.tree.map(lambda g: jnp.array(-learning_rate, dtype=g.dtype) * g, updates)
    return updates, optax.ScaleByScheduleState(count=optax.safe_increment(state.count))

  return optax.GradientTransformationExtraArgs(init, update)


def make_optimizer(optimizer_config: ml_collections.ConfigDict, params: nnx.State,
                   model_config: ModelConfig | None = None
                   ) -> optax.GradientTransformationExtraArgs:
  """AdamW with global-norm gradient clipping and a weight-decay mask; one update per step,
  whose learning rate is the `learning_rate=` argument of `update` (the schedule's value at the
  step: `make_schedule`; see `scale_by_given_learning_rate`).

  Gradient accumulation happens inside the train step (a scan over micro-batches), so every
  call of `update` is one optimizer step of the schedule. Under μP (`model_config`) the AdamW
  update of each parameter is then multiplied by its learning-rate multiplier.
  """
  clip = optimizer_config.grad_clip_norm
  adamw = optax.chain(
      optax.clip_by_global_norm(clip) if clip > 0 else optax.identity(),
      optax.chain(
          optax.scale_by_adam(b1=optimizer_config.b1, b2=optimizer_config.b2,
                              eps=optimizer_config.eps),
          optax.add_decayed_weights(optimizer_config.weight_decay, weight_decay_mask(params)),
          scale_by_given_learning_rate(),
      ),
  )
  if model_config is None or not parametrization.is_mup(model_config):
    return adamw
  return optax.chain(adamw, scale_by_multipliers(
      parametrization.learning_rate_multipliers(model_config, params)))
