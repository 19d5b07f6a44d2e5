"""Held-out evaluation: mean loss (nats/token) and the loss at each context position."""
import dataclasses
from typing import Any, Callable, Sequence

import jax
import numpy as np
from flax import nnx

from training import step as step_lib

MAX_POSITION_POINTS = 64


@dataclasses.dataclass(frozen=True)
class EvalResult:
  """Loss on the held-out tokens. `loss_by_position[i]`: mean loss predicting token i + 1 from
  the i + 1 tokens before it (0-based input position i), nats/token."""
  loss: float
  loss_by_position: np.ndarray
  tokens: int


def make_eval_step(graphdef: nnx.GraphDef, rest: nnx.State
                   ) -> Callable[[nnx.State, jax.Array], jax.Array]:
  """A jitted `eval_step(params, batch) -> loss summed over the batch at each position [L]`."""

  def eval_step(params: nnx.State, batch_BxT: jax.Array) -> jax.Array:
    return step_lib.token_losses(graphdef, params, rest, batch_BxT).sum(axis=0)

  return jax.jit(eval_step)


def evaluate(eval_step: Callable[[nnx.State, jax.Array], jax.Array], params: nnx.State,
             batches: Sequence[jax.Array]) -> EvalResult:
  """Runs `eval_step` over every held-out batch (the same batches at every evaluation)."""
  if not batches:
    raise ValueError(
        "evaluation needs at least one validation batch; raise config.train.eval_tokens")
  total = None
  for batch in batches:
    summed = eval_step(params, batch)
    total = summed if total is None else total + summed
  sequences = sum(batch.shape[0] for batch in batches)
  by_position = np.asarray(jax.device_get(total), np.float64) / sequences
  return EvalResult(loss=float(by_position.mean()), loss_by_position=by_position,
                    tokens=sequences * by_position.size)


def bin_by_position(loss_by_position: np.ndarray,
                    max_points: int = MAX_POSITION_POINTS) -> dict[str, Any]:
  """Averages per-position losses into at most `max_points` equal-width bins.

  Returns {"position": first 0-based position of each bin, "bin_width": positions per bin,
  "loss": mean loss of the bin in nats/token}. A seq_len that is not a multiple of the bin
  width leaves a shorter last bin.
  """
  length = len(loss_by_position)
  width = -(-length // max_points)
  starts = list(range(0, length, width))
  losses = [float(np.mean(loss_by_position[start:start + width])) for start in starts]
  return {"position": starts, "bin_width": width, "loss": losses}
