"""Variable projection: search the exponents, solve for the coefficients, polish all together.

For a form linear in its coefficients, L = phi_0 + sum_k c_k phi_k(x; exponents) with c_k >= 0
(Chinchilla: c = (E, A, B), phi = (1, N^-alpha, D^-beta)), the objective of `fit.fit` is
min over exponents of the profile p(exponents) = min over c in its box of
sum_i w_i rho(log L_i(c) - log y_i). The profile is what this module searches.

Is the inner problem exact least squares? Only for a squared loss on linear residuals
(L_hat - y), where it is a box-constrained NNLS. Ours is rho of a log residual. Write
u = a_i . c > 0. Then g(u) = rho(log u - log y) has g''(u) = (rho''(r) - rho'(r)) / u^2, with
r = log(u / y). For the squared loss that is (1 - r) / u^2, convex while r < 1. For Huber it is
(1 - r) / u^2 inside |r| <= delta, delta / u^2 for r < -delta (convex), and -delta / u^2 for
r > delta (concave). So over-predicted points beyond delta make the inner problem non-convex in
c. In log coordinates log c the prediction is a log-sum-exp, which is convex, but rho is
decreasing for r < 0, so under-predicted points spoil convexity there. No exact closed-form
projection exists for the Huber-of-log objective. Near a minimum it is well-posed (the inner
Hessian is positive definite), though.

So the search has three stages, batched over the exponent grid with `jax.vmap`:

  1. for each point of a grid over the free exponents (`ProjectionSettings.grid_points` in all,
     inside the exponents' box), solve the box-constrained NNLS of the relative linear residuals
     (L_hat - y) / y, the first-order expansion of the log residual. It is exact, by enumerating
     every active set (each coefficient free, at its lower or at its upper bound) and keeping
     the best feasible one;
  2. from that start take `inner_iterations` projected Levenberg-Marquardt (IRLS Gauss-Newton)
     steps on the real objective over the log coefficients, exponents held. The objective left
     is the profile at that grid point;
  3. polish the `survivors` best grid points in all the form's free parameters with the float64
     polish of `analysis.fitting.multistart` (Gauss-Newton and Newton steps to the gradient
     tolerance). The optimum is then a stationary point of the same 5-D objective as
     `fit.fit`'s.

`conditioning` compares the Hessian of the objective at an optimum in raw coordinates, in
natural ones, and of the profile. The profile's is the Schur complement
H_ee - H_ec H_cc^-1 H_ce over the exponents e, by the implicit function theorem at an inner
minimum.
"""
from collections.abc import Mapping
import dataclasses
import functools
import itertools
import time

import jax
import jax.numpy as jnp
import numpy as np

from analysis.fitting import fit as fit_lib
from analysis.fitting import multistart
from analysis.fitting import objectives as objectives_lib
from analysis.laws import catalogue
from analysis.laws import forms as forms_lib

# Roots whose log-scale parameters are coefficients of a sum of terms (one of them an
# irreducible loss E) and whose other parameters are exponents: fixing or tying keeps that.
LINEAR_ROOTS = (catalogue.CHINCHILLA, catalogue.OVERTRAINING,
                *(catalogue.single_variable(x) for x in ("n", "d", "c")))

_INITIAL_DAMPING = 1e-3
_FLOOR = 1e-12  # smallest coefficient term relative to the largest loss, for a log start
_VANISHED = -700.0  # a raw log coefficient standing in for -inf (coefficient 0) in a Hessian


@dataclasses.dataclass(frozen=True)
class ProjectionSettings:
  """How the projected search spends its work (see the module docstring).

  Attributes:
    grid_points: points of the exponent grid in all (rounded to a per-exponent count).
    inner_iterations: Levenberg-Marquardt steps of the coefficients at each grid point.
    survivors: best grid points polished in all free parameters.
    polish_iterations: at most this many float64 polish steps (`multistart.SearchSettings`).
  """
  grid_points: int = 400
  inner_iterations: int = 6
  survivors: int = 4
  polish_iterations: int = 200

  def __post_init__(self):
    for field in dataclasses.fields(self):
      minimum = 0 if field.name == "inner_iterations" else 1
      if getattr(self, field.name) < minimum:
        raise ValueError(f"ProjectionSettings.{field.name}={getattr(self, field.name)} must be "
                         f">= {minimum}")


def split(form: forms_lib.Form) -> tuple[tuple[int, ...], tuple[int, ...]]:
  """(coefficient indices, exponent indices) into `form.parameters`; a one-line ValueError
  naming FitOptions.search unless the form is linear in its coefficients, with at least one
  free coefficient and one free exponent."""
  coefficients = tuple(i for i, p in enumerate(form.parameters) if p.log_scale)
  exponents = tuple(i for i, p in enumerate(form.parameters) if not p.log_scale)
  if (form.root or form) not in LINEAR_ROOTS or not coefficients or not exponents:
    raise ValueError(
        f"FitOptions.search='projection' needs a sum of power laws linear in its coefficients, "
        f"with a free coefficient and a free exponent ({', '.join(f.name for f in LINEAR_ROOTS)}"
        f", possibly fixed or tied); {form.name} is not: use search='multistart'")
  return coefficients, exponents


def exponent_grid(form: forms_lib.Form, lower: np.ndarray, upper: np.ndarray,
                  points: int) -> np.ndarray:
  """(G, k) grid over the k free exponents: evenly spaced inside the raw box where finite, else
  over the span of the form's start grid; about `points` in all."""
  _, exponents = split(form)
  per_axis = max(2, int(round(points ** (1 / len(exponents)))))
  axes = []
  for i in exponents:
    grid = form.parameters[i].grid
    low = lower[i] if np.isfinite(lower[i]) else min(grid)
    high = upper[i] if np.isfinite(upper[i]) else max(grid)
    axes.append(np.linspace(low, high, per_axis))
  return np.array(list(itertools.product(*axes)), np.float64)


def _full(form, coefficients, exponents, coefficient_raw, exponent_raw):
  """The raw vector (P,) from its coefficient and exponent parts."""
  raw = jnp.zeros(len(form.parameters), coefficient_raw.dtype)
  return raw.at[jnp.array(coefficients)].set(coefficient_raw).at[
      jnp.array(exponents)].set(exponent_raw)


def _nnls_start(form, coefficients, exponents, exponent_raw, log_inputs, log_loss, weights,
                lower, upper):
  """Raw coefficients (K,) minimising sum_i w_i ((L_hat_i - y_i) / y_i)^2 in the coefficients'
  box at these exponents, by enumerating active sets; each floored to a finite log."""
  size = len(coefficients)
  names = form.raw_names

  def log_predict(coefficient_raw):
    raw = _full(form, coefficients, exponents, coefficient_raw, exponent_raw)
    return form.log_predict({n: raw[i] for i, n in enumerate(names)}, log_inputs)

  loss = jnp.exp(log_loss)
  offset = jnp.exp(log_predict(jnp.full(size, -jnp.inf)))
  basis = jnp.stack([jnp.exp(log_predict(jnp.where(jnp.arange(size) == k, 0.0, -jnp.inf)))
                     - offset for k in range(size)], axis=1) / loss[:, None]
  scale = jnp.sqrt(jnp.sum(weights[:, None] * basis**2, axis=0)) + 1e-300
  design = basis / scale[None]
  target = 1.0 - offset / loss
  gram = design.T @ (weights[:, None] * design) + 1e-12 * jnp.eye(size)
  moment = design.T @ (weights * target)
  low = jnp.exp(lower[jnp.array(coefficients)]) * scale
  high = jnp.exp(upper[jnp.array(coefficients)]) * scale
  best, best_value = jnp.zeros(size), jnp.inf
  for states in itertools.product(range(3), repeat=size):  # free, at low, at high
    states = jnp.array(states)
    free = states == 0
    fixed = jnp.where(states == 1, low, jnp.where(states == 2, high, 0.0))
    fixed = jnp.where(jnp.isfinite(fixed), fixed, 0.0)
    system = jnp.where(free[:, None] & free[None], gram, 0.0) + jnp.diag(~free * 1.0)
    rhs = jnp.where(free, moment - gram @ fixed, fixed)
    solution = jnp.linalg.solve(system, rhs)
    feasible = (jnp.all((solution >= low * (1 - 1e-12)) & (solution <= high * (1 + 1e-12)))
                & jnp.all(jnp.isfinite(high) | (states != 2)))
    value = solution @ gram @ solution - 2 * moment @ solution
    better = feasible & (value < best_value)
    best = jnp.where(better, solution, best)
    best_value = jnp.where(better, value, best_value)
  floor = _FLOOR * jnp.max(jnp.where(weights > 0, loss, 0.0))
  terms = jnp.maximum(best, floor / jnp.max(basis * loss[:, None], axis=0) * scale)
  raw = jnp.log(terms / scale)
  return jnp.clip(raw, lower[jnp.array(coefficients)], upper[jnp.array(coefficients)])


def _inner_descent(form, objective, coefficients, exponents, exponent_raw, coefficient_raw,
                   log_inputs, log_loss, weights, lower, upper, iterations):
  """`iterations` projected IRLS Levenberg-Marquardt steps of the coefficients at fixed
  exponents; a step is taken only if it lowers the objective. -> (raw (K,), objective)."""
  index = jnp.array(coefficients)
  low, high = lower[index], upper[index]

  def full(c):
    return _full(form, coefficients, exponents, c, exponent_raw)

  def value(c):
    return multistart.objective_value(form, full(c), log_inputs, log_loss, weights, objective)

  def log_predict(c):
    raw = full(c)
    return form.log_predict({n: raw[i] for i, n in enumerate(form.raw_names)}, log_inputs)

  def step(_, state):
    c, current, damping = state
    residual = log_predict(c) - log_loss
    jacobian = jax.jacfwd(log_predict)(c)
    gradient = jacobian.T @ (weights * objective.influence(residual))
    curvature = jacobian.T @ ((weights * objective.curvature(residual))[:, None] * jacobian)
    held = ((c <= low) & (gradient > 0)) | ((c >= high) & (gradient < 0))
    coupled = ~(held[:, None] | held[None])
    system = (jnp.where(coupled, curvature, 0.0) + jnp.diag(held * 1.0)
              + jnp.diag(damping * (jnp.diagonal(curvature) + 1e-9)))
    direction = jnp.linalg.solve(system, -jnp.where(held, 0.0, gradient))
    proposal = jnp.clip(c + direction, low, high)
    proposed = value(proposal)
    taken = proposed < current
    return (jnp.where(taken, proposal, c), jnp.where(taken, proposed, current),
            jnp.clip(damping * jnp.where(taken, 0.3, 4.0), 1e-12, 1e12))

  state = (coefficient_raw, value(coefficient_raw), jnp.asarray(_INITIAL_DAMPING))
  c, current, _ = jax.lax.fori_loop(0, iterations, step, state)
  return c, current


@functools.cache
def _compiled_profile(form, objective, inner_iterations):
  """A jitted map: (grid (G, k), log_inputs, log_loss, weights, lower, upper) ->
  (profile objective (G,), raw starts (G, P)); call it under `jax.enable_x64(True)`."""
  coefficients, exponents = split(form)

  def one(exponent_raw, log_inputs, log_loss, weights, lower, upper):
    start = _nnls_start(form, coefficients, exponents, exponent_raw, log_inputs, log_loss,
                        weights, lower, upper)
    c, value = _inner_descent(form, objective, coefficients, exponents, exponent_raw, start,
                              log_inputs, log_loss, weights, lower, upper, inner_iterations)
    return value, _full(form, coefficients, exponents, c, exponent_raw)

  return jax.jit(jax.vmap(one, (0, None, None, None, None, None)))


def profile(form: forms_lib.Form, exponents: np.ndarray, inputs: Mapping[str, np.ndarray],
            loss: np.ndarray, weights: np.ndarray, *, objective: objectives_lib.Objective,
            bounds: Mapping[str, tuple[float, float]] | None = None,
            inner_iterations: int = ProjectionSettings.inner_iterations
            ) -> tuple[np.ndarray, np.ndarray]:
  """The projected objective at each row of `exponents` (G, k) raw free exponents.

  Inputs are in natural units, the loss in nats/token, `bounds` in natural units as for
  `fit.fit`. Returns (objective (G,), raw parameters (G, P) of the inner minimum found).
  """
  arrays, loss, weights = fit_lib.check_observations(form, inputs, loss, weights)
  lower, upper = objectives_lib.raw_bounds(form, bounds)
  padded = multistart.pad_points({k: np.log(v) for k, v in arrays.items()}, np.log(loss), weights)
  run = _compiled_profile(form, objective, int(inner_iterations))
  with jax.enable_x64(True):
    values, raw = jax.device_get(run(jnp.asarray(exponents, jnp.float64),
                                     *jax.tree.map(jnp.asarray, padded), jnp.asarray(lower),
                                     jnp.asarray(upper)))
  return np.asarray(values, np.float64), np.asarray(raw, np.float64)


def fit(form: forms_lib.Form, inputs: Mapping[str, np.ndarray], loss: np.ndarray, *,
        objective: objectives_lib.Objective = objectives_lib.Objective(),
        bounds: Mapping[str, tuple[float, float]] | None = None,
        weights: np.ndarray | None = None,
        settings: ProjectionSettings = ProjectionSettings()) -> fit_lib.FitResult:
  """`fit.fit`'s minimum found by variable projection (module docstring); the same arguments
  (natural units, loss in nats/token) and FitResult, with `diagnostics['projection']` (grid
  size, best profile objective, seconds of the grid stage).

  Raises:
    ValueError: as `fit.fit`, and for a form that is not linear in its coefficients (`split`).
  """
  split(form)
  checked = objectives_lib.check_bounds(form, bounds)
  arrays, loss, weights = fit_lib.check_observations(form, inputs, loss, weights)
  lower, upper = objectives_lib.raw_bounds(form, checked)
  started = time.perf_counter()
  grid = exponent_grid(form, lower, upper, settings.grid_points)
  values, raw = profile(form, grid, arrays, loss, weights, objective=objective, bounds=checked,
                        inner_iterations=settings.inner_iterations)
  order = np.argsort(np.where(np.isfinite(values), values, np.inf), kind="stable")
  starts = raw[order[:settings.survivors]]
  grid_seconds = time.perf_counter() - started
  polish = multistart.SearchSettings(
      width=starts.shape[0], explore_iterations=0, refine_iterations=0,
      survivors=starts.shape[0], polish_iterations=settings.polish_iterations)
  result = fit_lib.fit(form, arrays, loss, objective=objective, bounds=checked, weights=weights,
                       init_grid=starts, settings=polish)
  result.diagnostics.update(
      seconds=time.perf_counter() - started,
      projection=dict(grid_points=int(grid.shape[0]), best_profile=float(values[order[0]]),
                      grid_seconds=grid_seconds, settings=dataclasses.asdict(settings)))
  return result


def conditioning(result: fit_lib.FitResult, inputs: Mapping[str, np.ndarray],
                 loss: np.ndarray, weights: np.ndarray | None = None) -> dict[str, float]:
  """Condition numbers (largest over smallest |eigenvalue|) of the objective's Hessian at a
  fit's optimum, over the free parameters not at a bound: in raw coordinates (log
  coefficients, exponents), in natural ones (coefficients, exponents; the gradient term is
  dropped, as at a stationary point), and of the profile over the exponents (the Schur
  complement of the coefficients; NaN without both, or with a singular coefficient block).
  A coefficient fitted to 0 counts as at its bound. A singular Hessian gives inf."""
  form = result.form
  arrays, loss, weights = fit_lib.check_observations(form, inputs, loss, weights)
  raw = form.to_raw(result.params)
  keep = [i for i, name in enumerate(form.param_names)
          if name not in result.diagnostics.get("at_bound", []) and np.isfinite(raw[i])]
  log_inputs = {k: np.log(v) for k, v in arrays.items()}
  with jax.enable_x64(True):
    hessian = np.asarray(jax.hessian(multistart.objective_value, argnums=1)(
        form, jnp.asarray(np.where(np.isfinite(raw), raw, _VANISHED)),
        jax.tree.map(jnp.asarray, log_inputs), jnp.log(jnp.asarray(loss)), jnp.asarray(weights),
        result.criterion), np.float64)
  hessian = hessian[np.ix_(keep, keep)]
  scale = np.array([np.exp(-raw[i]) if form.parameters[i].log_scale else 1.0 for i in keep])

  def condition(matrix):
    eigenvalues = np.abs(np.linalg.eigvalsh(matrix)) if matrix.size else np.array([np.nan])
    return float(eigenvalues.max() / eigenvalues.min()) if eigenvalues.min() > 0 else np.inf

  log_scale = np.array([form.parameters[i].log_scale for i in keep])
  inner, outer = np.flatnonzero(log_scale), np.flatnonzero(~log_scale)
  schur = np.zeros((0, 0))
  block = hessian[np.ix_(inner, inner)]
  if inner.size and outer.size and np.linalg.matrix_rank(block) == inner.size:
    schur = (hessian[np.ix_(outer, outer)] - hessian[np.ix_(outer, inner)]
             @ np.linalg.solve(block, hessian[np.ix_(inner, outer)]))
  return dict(raw=condition(hessian), natural=condition(hessian * np.outer(scale, scale)),
              profile=condition(schur))
