"""What a parametric fit minimises, and the box its parameters may move in.

Residuals are r = log(predicted loss) - log(observed loss) (natural log; loss in nats/token).
An `Objective` is the per-point loss rho(r) that the fit sums with observation weights:

  * "huber": Huber loss with threshold `delta`: r^2 / 2 for |r| <= delta, delta (|r| - delta / 2)
    beyond (Hoffmann et al. 2022 use delta = 1e-3);
  * "floor": the Huber loss with over-predictions (r > 0) weighted `over_weight` times, so the
    fitted law follows the lower edge of the points (a loss floor under noisy runs);
  * "squared": r^2 / 2, ordinary least squares in log space.

Each kind also gives its influence rho'(r) and the iteratively-reweighted least-squares curvature
that the Levenberg-Marquardt steps of `analysis.fitting.multistart` use: 1 for "squared",
min(1, delta / |r|) for "huber", and the Huber one times `over_weight` where r > 0 for "floor".

Bounds are dicts name -> (low, high) in natural units (E in nats/token, coefficients, exponents);
a name that is absent is unbounded. `default_bounds` gives the usual box and `raw_bounds` turns a
box into the raw coordinates the search works in (see `forms.Form`).
"""
from collections.abc import Mapping
import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from analysis.laws import forms as forms_lib


KINDS = ("huber", "floor", "squared")

Bounds = dict[str, tuple[float, float]]


@dataclasses.dataclass(frozen=True)
class Objective:
  """A robust loss on log-loss residuals; frozen and hashable (part of a compiled search's key).

  Attributes:
    kind: "huber", "floor" or "squared" (see the module docstring).
    delta: Huber threshold on log-loss residuals (> 0). For "squared" it only sets the residual
      scale of the convergence test (`multistart.GRADIENT_TOLERANCE`).
    over_weight: for "floor", the weight (> 0) of over-predictions relative to
      under-predictions; ignored by the other kinds.
  """
  kind: str = "huber"
  delta: float = 1e-3
  over_weight: float = 10.0

  def __post_init__(self):
    if self.kind not in KINDS:
      raise ValueError(f"Objective.kind={self.kind!r} must be one of {KINDS}")
    if not (isinstance(self.delta, (int, float)) and math.isfinite(self.delta)
            and self.delta > 0):
      raise ValueError(f"Objective.delta={self.delta!r} must be a finite number > 0 (Huber "
                       "threshold on log-loss residuals, e.g. 1e-3)")
    if not (isinstance(self.over_weight, (int, float)) and math.isfinite(self.over_weight)
            and self.over_weight > 0):
      raise ValueError(f"Objective.over_weight={self.over_weight!r} must be a finite number > 0 "
                       "(weight of over-predictions in the floor loss, e.g. 10)")
    object.__setattr__(self, "delta", float(self.delta))
    object.__setattr__(self, "over_weight", float(self.over_weight))

  def _side_weight(self, residual: jax.Array) -> jax.Array | float:
    if self.kind == "floor":
      return jnp.where(residual > 0, self.over_weight, 1.0)
    return 1.0

  def loss(self, residual: jax.Array) -> jax.Array:
    """rho(r) per residual (dimensionless), elementwise."""
    if self.kind == "squared":
      return 0.5 * residual**2
    magnitude = jnp.abs(residual)
    huber = jnp.where(magnitude <= self.delta, 0.5 * residual**2,
                      self.delta * (magnitude - 0.5 * self.delta))
    return self._side_weight(residual) * huber

  def influence(self, residual: jax.Array) -> jax.Array:
    """rho'(r), the derivative of `loss`, elementwise."""
    if self.kind == "squared":
      return residual
    return self._side_weight(residual) * jnp.clip(residual, -self.delta, self.delta)

  def curvature(self, residual: jax.Array) -> jax.Array:
    """IRLS weight rho'(r) / r (1 near r = 0), elementwise: the Gauss-Newton curvature."""
    if self.kind == "squared":
      return jnp.ones_like(residual)
    huber = jnp.minimum(1.0, self.delta / jnp.maximum(jnp.abs(residual), 1e-30))
    return self._side_weight(residual) * huber

  def describe(self) -> str:
    """One line for reports."""
    if self.kind == "squared":
      return "squared error on log-loss residuals (least squares in log space)"
    huber = f"Huber loss (delta {self.delta:g}) on log-loss residuals"
    if self.kind == "huber":
      return huber
    return f"floor loss: {huber}, over-predictions weighted {self.over_weight:g}x"

  def to_json(self) -> dict[str, Any]:
    """kind, delta, over_weight and the one-line description."""
    return dict(kind=self.kind, delta=self.delta, over_weight=self.over_weight,
                description=self.describe())


def check_bounds(form: forms_lib.Form, bounds: Mapping[str, tuple[float, float]] | None
                 ) -> Bounds:
  """Validated bounds of `form`'s free parameters, as floats; {} for None.

  Raises a one-line ValueError for a name that is not a free parameter, a pair that is not two
  numbers, low >= high, NaN, or a negative low on a log-scale (positive) parameter.
  """
  if bounds is None:
    return {}
  if not isinstance(bounds, Mapping):
    raise ValueError(f"bounds must be a dict name -> (low, high); got {type(bounds).__name__}")
  free = {p.name: p for p in form.parameters}
  checked = {}
  for name, pair in bounds.items():
    if name not in free:
      why = ("is fixed or tied in this form" if name in form.all_param_names
             else "is not a parameter")
      raise ValueError(f"bounds: {name!r} {why} of {form.name}; bound only {sorted(free)}")
    try:
      low, high = (float(x) for x in pair)
    except (TypeError, ValueError):
      raise ValueError(f"bounds[{name!r}]={pair!r} must be a pair (low, high) of numbers; use "
                       "-inf or inf for an open side") from None
    if math.isnan(low) or math.isnan(high) or not low < high:
      raise ValueError(f"bounds[{name!r}]=({low}, {high}) needs low < high")
    if free[name].log_scale and low < 0:
      raise ValueError(f"bounds[{name!r}]: low={low} < 0 but {name} is positive (fitted as its "
                       "log); use low >= 0")
    checked[name] = (low, high)
  return checked


def raw_bounds(form: forms_lib.Form, bounds: Mapping[str, tuple[float, float]] | None
               ) -> tuple[np.ndarray, np.ndarray]:
  """(lower, upper), each (P,) float64, in the raw coordinates of the free parameters.

  A log-scale parameter's bounds become log(low) (-inf for low = 0) and log(high); absent names
  are (-inf, inf).
  """
  checked = check_bounds(form, bounds)
  lower = np.full(len(form.parameters), -np.inf)
  upper = np.full(len(form.parameters), np.inf)
  for i, parameter in enumerate(form.parameters):
    if parameter.name in checked:
      low, high = checked[parameter.name]
      if parameter.log_scale:
        with np.errstate(divide="ignore"):
          low, high = np.log(low), np.log(high)
      lower[i], upper[i] = low, high
  return lower, upper


def default_bounds(form: forms_lib.Form, loss: np.ndarray,
                   exponent_range: tuple[float, float] = (0.0, 3.0)) -> Bounds:
  """The usual box: E in [0, min(observed loss)] where the form has a free E, and every other
  non-log-scale free parameter (the exponents) inside `exponent_range`.

  Args:
    form: the law.
    loss: observed losses, nats/token (finite, > 0).
    exponent_range: (low, high) for exponents, low < high.
  """
  loss = np.asarray(loss, np.float64).reshape(-1)
  if loss.size == 0 or not np.all(np.isfinite(loss) & (loss > 0)):
    raise ValueError("default_bounds: loss must be non-empty, finite and > 0 (nats/token)")
  low, high = (float(x) for x in exponent_range)
  if not low < high:
    raise ValueError(f"default_bounds: exponent_range={exponent_range} needs low < high")
  bounds = {}
  for parameter in form.parameters:
    if parameter.name == "E" and parameter.log_scale:
      bounds["E"] = (0.0, float(loss.min()))
    elif not parameter.log_scale:
      bounds[parameter.name] = (low, high)
  return check_bounds(form, bounds)
