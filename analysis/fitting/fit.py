"""Fitting a scaling-law form to observations: robust loss in log space, multi-start, in JAX.

`fit(form, inputs, loss)` minimises sum_i w_i rho(log L_hat(x_i) - log L_i) over the form's free
parameters from every point of its start grid (for `catalogue.CHINCHILLA` the 4500 starts of
Hoffmann et al. 2022, App. D.2), with the pruned, vectorised search of
`analysis.fitting.multistart`. rho is an `objectives.Objective` (Huber with delta 1e-3 by default,
as Hoffmann et al.; or the asymmetric floor loss, or squared error); parameters may be bounded
(natural units, see `objectives.default_bounds`), fixed or tied (`forms.fix`, `forms.tie`). Inputs
are in natural units (parameters, tokens, FLOPs, tokens per parameter), the loss in nats/token. The
result names the form, every parameter of its root form in natural units, the objective, a
convergence verdict and diagnostics; it serialises with `to_json()`.
"""
from collections.abc import Mapping
import dataclasses
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from analysis.laws import forms as forms_lib
from analysis.fitting import multistart
from analysis.fitting import objectives as objectives_lib
from records import atomic

# Survivors whose objectives agree to this relative amount count as the same minimum.
SAME_MINIMUM = 1e-6


@dataclasses.dataclass
class FitResult:
  """One fitted law.

  Attributes:
    form: the fitted form (possibly derived by `forms.fix` / `forms.tie`).
    params: natural values of every parameter of the form's root, by name (e.g. E in
      nats/token, A, B, alpha, beta); fixed ones at their value, tied ones copied.
    objective: the minimised value, sum of weighted `criterion` losses of log-loss residuals.
    converged: the best start met the projected-gradient tolerance
      (`multistart.GRADIENT_TOLERANCE`).
    n_starts: starting points the search began from.
    diagnostics: details of the search (survivors, projected gradient, settings, seconds, and
      `at_bound`: the free parameters that ended at a bound).
    warnings: human-readable problems (too few points, non-convergence); empty when none.
    criterion: the objective that was minimised.
    bounds: name -> (low, high) in natural units for the bounded free parameters.
    survivors: (K, P_free) the polished starts in raw coordinates, best first (a warm start
      for refits, e.g. `bootstrap.bootstrap(..., init_grid=result.survivors)`).
  """
  form: forms_lib.Form
  params: dict[str, float]
  objective: float
  converged: bool
  n_starts: int
  diagnostics: dict[str, Any]
  warnings: list[str]
  criterion: objectives_lib.Objective = objectives_lib.Objective()
  bounds: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
  survivors: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0)))

  def predict(self, **inputs: np.ndarray) -> np.ndarray:
    """Predicted loss (nats/token) at inputs in natural units."""
    return self.form.predict(self.params, **inputs)

  def to_json(self) -> dict[str, Any]:
    """A JSON-serialisable summary: form, citation, params, objective (the minimised value),
    criterion, bounds (infinite sides as null), status, diagnostics."""
    return dict(form=self.form.name, formula=self.form.formula, citation=self.form.citation,
                params=dict(self.params), objective=self.objective,
                criterion=self.criterion.to_json(),
                bounds=atomic.json_safe({k: [float(low), float(high)]
                                         for k, (low, high) in self.bounds.items()}),
                converged=self.converged, n_starts=self.n_starts,
                diagnostics=atomic.json_safe(self.diagnostics), warnings=list(self.warnings))


def check_observations(form: forms_lib.Form, inputs: Mapping[str, np.ndarray], loss: np.ndarray,
                       weights: np.ndarray | None = None
                       ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
  """Validated float64 inputs, loss and weights; ValueError naming the first problem."""
  arrays = form.check_inputs(inputs)
  loss = np.asarray(loss, np.float64).reshape(-1)
  n_points = next(iter(arrays.values())).size
  if loss.size != n_points:
    raise ValueError(f"loss has {loss.size} values but the inputs have {n_points}")
  if n_points == 0:
    raise ValueError("no observations to fit")
  if not np.all(np.isfinite(loss)):
    raise ValueError("loss has non-finite values (NaN or inf); drop diverged runs before fitting")
  if not np.all(loss > 0):
    raise ValueError("loss has non-positive values; losses in nats/token must be > 0")
  if weights is None:
    weights = np.ones(n_points)
  weights = np.asarray(weights, np.float64).reshape(-1)
  if weights.size != n_points or not np.all(np.isfinite(weights) & (weights >= 0)):
    raise ValueError(f"weights must be {n_points} finite non-negative numbers")
  return arrays, loss, weights


def prepare_starts(form: forms_lib.Form, init_grid: np.ndarray | None) -> np.ndarray:
  """The (S, P) raw starting points: `init_grid` if given, else the form's grid."""
  starts = form.init_grid() if init_grid is None else np.asarray(init_grid, np.float64)
  if starts.ndim != 2 or starts.shape[1] != len(form.parameters) or starts.shape[0] == 0:
    raise ValueError(f"init_grid must have shape (starts, {len(form.parameters)}) in raw "
                     f"coordinates {form.raw_names}; got {starts.shape}")
  return starts


def at_bound(form: forms_lib.Form, raw: np.ndarray, lower: np.ndarray,
             upper: np.ndarray) -> list[str]:
  """Names of the free parameters whose raw value (P,) sits on a finite side of the box."""
  raw = np.asarray(raw, np.float64)
  on_side = np.zeros(raw.shape, bool)
  for side in (lower, upper):
    finite = np.isfinite(side)
    on_side |= finite & np.isclose(raw, np.where(finite, side, 0.0), rtol=1e-9, atol=1e-12)
  return [name for name, hit in zip(form.param_names, on_side) if hit]


def summarise(form: forms_lib.Form, survivors: Mapping[str, np.ndarray], n_points: int,
              n_starts: int, objective: objectives_lib.Objective, total_weight: float,
              lower: np.ndarray | None = None, upper: np.ndarray | None = None
              ) -> tuple[dict[str, float], float, bool, dict[str, Any], list[str]]:
  """Best survivor -> (params, objective value, converged, diagnostics, warnings).

  `n_points` counts the points with positive weight; `lower` and `upper` are the raw box
  (default unbounded).
  """
  values = np.asarray(survivors["objective"], np.float64)
  best = int(np.argmin(values))
  value = float(values[best])
  gradient = np.asarray(survivors["gradient"][best], np.float64)
  gradient_max = float(np.max(np.abs(gradient)))
  gradient_tolerance = multistart.GRADIENT_TOLERANCE * (value + objective.delta**2 * total_weight)
  finite = np.isfinite(value) and np.all(np.isfinite(survivors["raw"][best]))
  optimiser_converged = bool(finite and gradient_max <= gradient_tolerance)
  at_best = int(np.sum(values <= value * (1 + SAME_MINIMUM)))
  warnings = []
  enough_points = n_points >= len(form.parameters) + 1
  if not enough_points:
    warnings.append(f"{form.name}: too few points ({n_points}) for {len(form.parameters)} "
                    f"parameters; need at least {len(form.parameters) + 1}")
  converged = optimiser_converged and enough_points
  if not optimiser_converged:
    warnings.append(f"{form.name}: optimiser did not converge (max |gradient| "
                    f"{gradient_max:.2e} > tolerance {gradient_tolerance:.2e})")
  size = len(form.parameters)
  lower = np.full(size, -np.inf) if lower is None else lower
  upper = np.full(size, np.inf) if upper is None else upper
  diagnostics = dict(
      n_points=n_points, n_starts=n_starts,
      survivor_objectives=np.sort(values).tolist(), survivors_at_best=at_best,
      gradient=dict(zip(form.raw_names, gradient.tolist())),
      max_abs_gradient=gradient_max, gradient_tolerance=gradient_tolerance,
      polish_iterations_run=int(survivors["polish_iterations"]),
      at_bound=at_bound(form, survivors["raw"][best], lower, upper) if finite else [])
  params = form.from_raw(survivors["raw"][best]) if finite else {
      name: float("nan") for name in form.all_param_names}
  return params, value, converged, diagnostics, warnings


def fit(form: forms_lib.Form, inputs: Mapping[str, np.ndarray], loss: np.ndarray, *,
        objective: objectives_lib.Objective = objectives_lib.Objective(),
        bounds: Mapping[str, tuple[float, float]] | None = None,
        weights: np.ndarray | None = None, init_grid: np.ndarray | None = None,
        settings: multistart.SearchSettings = multistart.SearchSettings()) -> FitResult:
  """Fits `form` to observed losses by robust regression in log space from a grid of starts.

  Args:
    form: the law, e.g. `catalogue.CHINCHILLA` or `catalogue.get("chinchilla[beta=alpha]")`.
    inputs: the form's inputs by name, natural units: n (parameters), d (tokens), c (FLOPs),
      m (tokens per parameter); see `forms.inputs_for`.
    loss: observed loss per point, nats/token, finite and > 0.
    objective: the loss on log-loss residuals (default: Huber, delta 1e-3, as Hoffmann et al.).
    bounds: name -> (low, high) in natural units for free parameters (e.g.
      `objectives.default_bounds(form, loss)`); absent names are unbounded.
    weights: optional non-negative weight per point (e.g. bootstrap counts, seed variances).
    init_grid: (S, P) raw starting points of the free parameters; defaults to the form's grid.
    settings: how the multi-start search spends its steps, see `analysis.fitting.multistart`.

  Returns:
    FitResult with natural parameters, objective and convergence status.

  Raises:
    ValueError: on missing, non-finite or non-positive inputs or losses, bad weights, bounds,
      grid or objective.
  """
  if not isinstance(objective, objectives_lib.Objective):
    raise ValueError(f"objective={objective!r} must be an objectives.Objective, e.g. "
                     "Objective(kind='huber', delta=1e-3)")
  arrays, loss, weights = check_observations(form, inputs, loss, weights)
  checked_bounds = objectives_lib.check_bounds(form, bounds)
  lower, upper = objectives_lib.raw_bounds(form, checked_bounds)
  starts = prepare_starts(form, init_grid)
  started = time.perf_counter()
  run = multistart.compiled_search(form, objective, settings)
  padded = multistart.pad_points({k: np.log(v) for k, v in arrays.items()}, np.log(loss), weights)
  with jax.enable_x64(True):
    survivors = jax.device_get(run(jnp.asarray(starts), *jax.tree.map(jnp.asarray, padded),
                                   jnp.asarray(lower), jnp.asarray(upper)))
  params, value, converged, diagnostics, warnings = summarise(
      form, survivors, int(np.sum(weights > 0)), starts.shape[0], objective,
      float(weights.sum()), lower, upper)
  diagnostics.update(search=dataclasses.asdict(settings), seconds=time.perf_counter() - started)
  order = np.argsort(np.asarray(survivors["objective"]), kind="stable")
  return FitResult(form=form, params=params, objective=value, converged=converged,
                   n_starts=starts.shape[0], diagnostics=diagnostics, warnings=warnings,
                   criterion=objective, bounds=checked_bounds,
                   survivors=np.asarray(survivors["raw"], np.float64)[order])
