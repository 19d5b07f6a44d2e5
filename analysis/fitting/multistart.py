"""Vectorised multi-start minimisation of a robust loss on log-loss residuals, in JAX.

The objective for raw parameters theta of a `forms.Form` is

    objective(theta) = sum_i w_i * rho(log_predict(theta, log x_i) - log y_i),

with rho an `objectives.Objective` (Huber, floor or squared error) and observation weights w_i
(1 for a plain fit, resample counts in a bootstrap). Parameters may be confined to a box
[lower, upper] in raw coordinates (infinite sides are open). Starts are moved by a damped
Gauss-Newton method (Levenberg-Marquardt) whose normal matrix uses the objective's iteratively
reweighted least-squares curvature (`Objective.curvature`); a step is taken only if it lowers
the objective. Steps are projected: a coordinate at a bound whose gradient pushes out of the box
is held (left out of the linear system), proposals are clipped into the box, and convergence is
judged on the projected gradient (such components count as zero). Many starts move together
(`jax.vmap`), in three phases (`SearchSettings`):

  1. explore: every start of the grid, clipped into the box, takes `explore_iterations` float32
     steps, `width` starts at a time;
  2. refine: the best `width` starts take `refine_iterations` more float32 steps;
  3. polish: the best `survivors` continue in float64 with steps that also try Newton steps on
     the full Hessian (fast near a minimum), until the best one's projected gradient meets the
     tolerance or `polish_iterations` steps have run.

Most starts of a grid fall into poor local minima, and this is visible after a step or two,
so pruning early keeps the optimum that running every start to convergence finds; the tests
and benchmarks/fit_speed.py check this against a plain scipy loop over every start.

The Jacobian of the log prediction is the form's (`forms.Form.log_predict_with_jacobian`: one
forward-mode product per parameter), so any form's `log_predict` works; there is no
hand-written derivative.
"""
from collections.abc import Mapping
import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from analysis.laws import forms as forms_lib
from analysis.fitting import objectives as objectives_lib

# Converged: every projected gradient component (objective per unit raw coordinate) is at most
# GRADIENT_TOLERANCE * (objective + delta^2 * total weight), relative to the objective with a
# floor at the scale of residuals of size delta, so that near-exact fits can converge too.
GRADIENT_TOLERANCE = 1e-4

_MIN_BUCKET = 64
_NEWTON_STEP_LENGTHS = (1.0, 0.5, 0.25, 0.125)
_INITIAL_DAMPING = 1e-2
_DAMPING_DOWN = 0.3
_DAMPING_UP = 4.0
_DAMPING_RANGE = (1e-12, 1e12)


def _residuals_and_jacobian(form, raw_vector, log_inputs, log_loss):
  """Residuals (M,) and their Jacobian columns, a list of P arrays (M,), for one start: the
  form's `log_predict_with_jacobian`, traced in the search's dtype."""
  log_prediction, columns = form.log_predict_with_jacobian(raw_vector, log_inputs)
  return log_prediction - log_loss, columns


def objective_value(form: forms_lib.Form, raw_vector: jax.Array,
                    log_inputs: Mapping[str, jax.Array], log_loss: jax.Array, weights: jax.Array,
                    objective: objectives_lib.Objective) -> jax.Array:
  """Weighted sum of `objective.loss` of log-loss residuals (dimensionless); inf if not finite."""
  raw = {name: raw_vector[i] for i, name in enumerate(form.raw_names)}
  residual = form.log_predict(raw, log_inputs) - log_loss
  value = jnp.sum(jnp.where(weights > 0, weights * objective.loss(residual), 0.0))
  return jnp.where(jnp.isfinite(value), value, jnp.inf)


def _held(raw, gradient, lower, upper):
  """Coordinates at a bound whose descent direction (-gradient) points out of the box."""
  return ((raw <= lower) & (gradient > 0)) | ((raw >= upper) & (gradient < 0))


def project_gradient(raw: jax.Array, gradient: jax.Array, lower: jax.Array,
                     upper: jax.Array) -> jax.Array:
  """The gradient with components that push out of the box at an active bound set to zero."""
  return jnp.where(_held(raw, gradient, lower, upper), 0.0, gradient)


def _symmetric(columns, curvature):
  """sum_i curvature_i J_ip J_iq as a (P, P) matrix, from its upper triangle."""
  size = len(columns)
  upper = {(p, q): jnp.sum(columns[p] * columns[q] * curvature)
           for p in range(size) for q in range(p, size)}
  return jnp.stack([jnp.stack([upper[min(p, q), max(p, q)] for q in range(size)])
                    for p in range(size)])


def _linearise(form, raw_vector, log_inputs, log_loss, weights, objective, newton):
  """Objective gradient (P,) and the matrices (P, P) that steps are solved with, at one start.

  The first is the IRLS Gauss-Newton matrix, which weights each point by the objective's
  curvature (min(1, delta / |r|) for Huber): it majorises the robust loss and is robust far from
  a minimum. With `newton` the second is the objective's full Hessian, which includes the
  curvature of the prediction and converges fast near a minimum where the Gauss-Newton matrices
  do not (points outside the quadratic zone of the Huber loss pull with constant force, so their
  second-order term does not vanish).
  """
  residual, columns = _residuals_and_jacobian(form, raw_vector, log_inputs, log_loss)
  influence = weights * objective.influence(residual)
  gradient = jnp.stack([jnp.sum(column * influence) for column in columns])
  matrices = [_symmetric(columns, weights * objective.curvature(residual))]
  if newton:
    matrices.append(jax.hessian(objective_value, argnums=1)(
        form, raw_vector, log_inputs, log_loss, weights, objective))
  return gradient, matrices


def _batched(function, form, objective, *static):
  """`function(form, raw_vector, log_inputs, log_loss, weights, objective, ...)` over starts."""
  def bound(raw_vector, log_inputs, log_loss, weights):
    return function(form, raw_vector, log_inputs, log_loss, weights, objective, *static)
  return jax.vmap(bound, (0, None, None, None))


def _levenberg_marquardt_step(form, objective, newton, log_inputs, log_loss, weights, lower,
                              upper):
  """One projected damped Gauss-Newton step for every start.

  (raw, objective value, damping) -> the same after the step, plus the projected gradient at
  the incoming point. The step proposes clip(raw + solve(H + damping * diag(H_irls),
  -gradient)) with H the IRLS matrix, solved over the coordinates that are not held at a bound.
  With `newton` it also tries the full Hessian, damped and undamped, each at step lengths 1, 1/2,
  1/4 and 1/8 along its direction, and keeps the best proposal. A step is taken only if it
  lowers the objective; the damping falls after a taken step and rises after a refused one.
  """
  batched_objective = _batched(objective_value, form, objective)
  batched_linearise = _batched(_linearise, form, objective, newton)
  eye = jnp.eye(len(form.parameters), dtype=lower.dtype)[None]
  lower, upper = lower[None], upper[None]  # the box of every start

  def step(raw, value, damping):
    gradient, matrices = batched_linearise(raw, log_inputs, log_loss, weights)
    held = _held(raw, gradient, lower, upper)
    free_gradient = jnp.where(held, 0.0, gradient)
    coupled = ~(held[:, :, None] | held[:, None, :])
    damping_matrix = jax.vmap(jnp.diag)(
        damping[:, None] * (jnp.diagonal(matrices[0], axis1=1, axis2=2) + 1e-9))
    systems = [matrices[0] + damping_matrix]
    if newton:
      systems += [matrices[1] + damping_matrix, matrices[1]]
    lengths = _NEWTON_STEP_LENGTHS if newton else (1.0,)
    best_raw, best_value = raw, value
    for system in systems:
      system = jnp.where(coupled, system, 0.0) + held[:, :, None] * eye
      direction = jnp.linalg.solve(system, -free_gradient[..., None])[..., 0]
      for length in lengths:
        proposal = jnp.clip(raw + length * direction, lower, upper)
        proposal_value = batched_objective(proposal, log_inputs, log_loss, weights)
        better = proposal_value < best_value
        best_raw = jnp.where(better[:, None], proposal, best_raw)
        best_value = jnp.where(better, proposal_value, best_value)
    taken = best_value < value
    damping = jnp.clip(jnp.where(taken, damping * _DAMPING_DOWN, damping * _DAMPING_UP),
                       *_DAMPING_RANGE)
    return best_raw, best_value, damping, free_gradient

  return step


def pad_points(log_inputs: Mapping[str, np.ndarray], log_loss: np.ndarray,
               weights: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
  """Pads the points to a bucketed count (a power of two, at least 64) with zero weight.

  The padding repeats the first point, so it stays finite wherever the data are; with zero
  weight it changes neither the objective nor its derivatives. Fits of different sizes in a
  bucket then share one compiled search. `weights` may carry leading batch axes.
  """
  size = log_loss.shape[-1]
  padded = max(_MIN_BUCKET, 1 << (size - 1).bit_length())
  def repeat_first(x):
    return np.concatenate([x, np.repeat(x[..., :1], padded - size, axis=-1)], axis=-1)
  zeros = np.zeros(weights.shape[:-1] + (padded - size,))
  return ({k: repeat_first(v) for k, v in log_inputs.items()}, repeat_first(log_loss),
          np.concatenate([weights, zeros], axis=-1))


@dataclasses.dataclass(frozen=True)
class SearchSettings:
  """How the multi-start search spends its steps (see the module docstring).

  Attributes:
    width: starts advanced together in float32; the grid is explored in chunks of this many,
      and the best `width` of all starts are refined (fixed shapes: one compiled step).
    explore_iterations: float32 steps taken from every start of the grid.
    refine_iterations: further float32 steps for the best `width` starts.
    survivors: the best refined starts that are polished in float64.
    polish_iterations: at most this many float64 steps; the polish stops once the best
      survivor's gradient meets the GRADIENT_TOLERANCE criterion.
  """
  width: int = 500
  explore_iterations: int = 1
  refine_iterations: int = 6
  survivors: int = 8
  polish_iterations: int = 200

  def __post_init__(self):
    for field in dataclasses.fields(self):
      minimum = 0 if field.name.endswith("iterations") else 1
      if getattr(self, field.name) < minimum:
        raise ValueError(f"SearchSettings.{field.name}={getattr(self, field.name)} must be "
                         f">= {minimum}")


def search(form: forms_lib.Form, starts: jax.Array, log_inputs: Mapping[str, jax.Array],
           log_loss: jax.Array, weights: jax.Array, lower: jax.Array, upper: jax.Array, *,
           objective: objectives_lib.Objective, settings: SearchSettings
           ) -> dict[str, jax.Array]:
  """Pruned, projected multi-start search; traceable (jit/vmap it under `jax.enable_x64(True)`).

  Args:
    form: the law to fit.
    starts: (S, P) starting points in raw coordinates (clipped into the box).
    log_inputs: name -> (M,) log inputs (log parameters, log tokens, log FLOPs, ...).
    log_loss: (M,) log of the observed loss (nats/token).
    weights: (M,) non-negative observation weights.
    lower, upper: (P,) the box in raw coordinates (see `objectives.raw_bounds`); +-inf: open.
    objective: the loss on log-loss residuals.
    settings: the steps of each phase.

  Returns:
    raw (K, P) survivors in float64, their objective (K,), projected gradient (K, P), and the
    float64 steps taken (polish_iterations).
  """
  def cast(tree, dtype):
    return jax.tree.map(lambda x: x.astype(dtype), tree)

  data32 = cast((log_inputs, log_loss, weights, lower, upper), jnp.float32)
  objective32 = _batched(objective_value, form, objective)
  step = _levenberg_marquardt_step(form, objective, False, *data32)

  def advance(raw, iterations):
    value = objective32(raw, *data32[:3])
    damping = jnp.full(value.shape, _INITIAL_DAMPING, jnp.float32)
    return jax.lax.fori_loop(0, iterations, lambda _, state: step(*state)[:3],
                             (raw, value, damping))[:2]

  n_starts = starts.shape[0]
  width = min(settings.width, n_starts)
  n_chunks = -(-n_starts // width)
  padded = jnp.concatenate([starts, jnp.repeat(starts[:1], n_chunks * width - n_starts, 0)])
  padded = jnp.clip(padded.astype(jnp.float32), data32[3][None], data32[4][None])
  raw, value = jax.lax.map(lambda chunk: advance(chunk, settings.explore_iterations),
                           padded.reshape(n_chunks, width, -1))
  raw, value = raw.reshape(n_chunks * width, -1), value.reshape(-1)
  value = jnp.where(jnp.arange(value.size) < n_starts, value, jnp.inf)
  _, best = jax.lax.top_k(-value, width)
  raw, value = advance(raw[best], settings.refine_iterations)

  _, best = jax.lax.top_k(-value, min(settings.survivors, width))
  data64 = cast((log_inputs, log_loss, weights, lower, upper), jnp.float64)
  raw = jnp.clip(raw[best].astype(jnp.float64), data64[3][None], data64[4][None])
  value = _batched(objective_value, form, objective)(raw, *data64[:3])
  step = _levenberg_marquardt_step(form, objective, True, *data64)
  tolerance_scale = objective.delta**2 * jnp.sum(data64[2])

  def unconverged(state):
    iteration, _, _, _, done = state
    return (iteration < settings.polish_iterations) & ~done

  def polish(state):
    iteration, raw, value, damping, _ = state
    best = jnp.argmin(value)
    new_raw, new_value, new_damping, gradient = step(raw, value, damping)
    tolerance = GRADIENT_TOLERANCE * (value[best] + tolerance_scale)
    done = jnp.max(jnp.abs(gradient[best])) <= tolerance
    new_state = jax.tree.map(lambda old, new: jnp.where(done, old, new), (raw, value, damping),
                             (new_raw, new_value, new_damping))
    return (iteration + jnp.where(done, 0, 1), *new_state, done)

  damping = jnp.full(value.shape, _INITIAL_DAMPING, jnp.float64)
  state = (0, raw, value, damping, False)
  iterations, raw, value, _, _ = jax.lax.while_loop(unconverged, polish, state)
  gradient = _batched(jax.grad(objective_value, argnums=1), form, objective)(raw, *data64[:3])
  gradient = project_gradient(raw, gradient, data64[3][None], data64[4][None])
  return dict(raw=raw, objective=value, gradient=gradient, polish_iterations=iterations)


def compiled_search(form: forms_lib.Form, objective: objectives_lib.Objective,
                    settings: SearchSettings, batched: bool = False):
  """A jitted `search` for one configuration; with `batched`, vmapped over leading weights.

  The result takes (starts, log_inputs, log_loss, weights, lower, upper); call it under
  `jax.enable_x64(True)` with float64 arrays. Shapes are fixed by the data (points are bucketed
  by `pad_points`) and the bounds are traced, so refits that only change the weights or the
  bounds, as in a bootstrap, reuse one compilation. The same configuration returns the same
  function.
  """
  return _compiled_search(form, objective, settings, bool(batched))


@functools.cache
def _compiled_search(form, objective, settings, batched):
  def run(starts, log_inputs, log_loss, weights, lower, upper):
    return search(form, starts, log_inputs, log_loss, weights, lower, upper,
                  objective=objective, settings=settings)
  if batched:
    run = jax.vmap(run, in_axes=(None, None, None, 0, None, None))
  return jax.jit(run)
