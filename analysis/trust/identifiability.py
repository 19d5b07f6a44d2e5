"""Is a fitted law identifiable? Reasons a researcher can act on, with the numbers behind them.

`assess(fit_result, bootstrap_result, inputs, loss)` checks one fit (`fit.FitResult`) for the
ways a scaling-law fit goes wrong without the optimiser noticing:

  * a parameter sits at (within `BOUND_TOLERANCE`, relative) a finite bound, or a positive
    coefficient collapsed towards 0: its term is below `COLLAPSE_FRACTION` of the predicted loss
    at every run (for E: E < 1e-3 x the smallest predicted loss, "E fitted to ~0");
  * a bootstrap interval is too wide. For a positive (log-scale) coefficient the interval is
    that of its term at the centre of the data (`coefficient_terms` at `data_centre`, once per
    bootstrap refit), flagged when high / low > `interval_factor`. A coefficient moves with its
    exponent (in L = E + A/N^alpha + B/D^beta, log A shifts by ln N x any change of alpha), so
    its own interval grows like exp(width of alpha x ln N) even when the loss it contributes
    where the runs are is tightly measured; the term A / N_c^alpha is the quantity the data
    constrain. A level such as E (its term is E at every input) is judged by its own interval,
    which is the same thing. For exponents: width > `EXPONENT_WIDTH_LIMIT`;
  * the Gauss-Newton Hessian J^T W J of the log-loss residuals at the optimum, in the form's raw
    coordinates (log of coefficients, exponents as they are) and scaled to unit diagonal so that
    parameter units do not matter, has a condition number above `condition_limit`;
  * an input of the form takes fewer than `min_distinct` distinct values (relative tolerance
    `DISTINCT_TOLERANCE`);
  * every run is far from the regime the law describes: every observed loss above
    `FLOOR_FACTOR` x E (the upper end of E's bootstrap interval when there is one: a fitted E
    biased low would make every run look far from the floor), and, for laws in N and D (or
    tokens per parameter M = D/N),
    every run below `MIN_TOKENS_PER_PARAMETER` tokens per parameter.

Inputs are in natural units (parameters, tokens, FLOPs, tokens per parameter), losses in
nats/token; residuals are log(predicted) - log(observed).
"""
from collections.abc import Mapping
import dataclasses
import math
from typing import Any

import numpy as np

from analysis.fitting import bootstrap as bootstrap_lib
from analysis.fitting import fit as fit_lib
from analysis.laws import forms as forms_lib
from records import atomic

# A value within this relative distance of a finite bound (absolute when the bound is 0) is
# "at the bound": the optimiser was stopped by the box, not by the data.
BOUND_TOLERANCE = 1e-3
# A positive coefficient whose term moves the predicted loss by less than this fraction at every
# run (|d log L / d log p| < 1e-3, i.e. E < 1e-3 x the smallest predicted loss for E) has
# collapsed towards 0: the data say nothing about it.
COLLAPSE_FRACTION = 1e-3
# Exponents of published laws lie in about 0.05-0.5 (Kaplan et al. 2020: 0.05-0.1; Hoffmann et
# al. 2022: 0.28-0.34); a bootstrap interval wider than 0.5 spans that whole range, so it says
# nothing about the exponent or the compute-optimal allocation it implies.
EXPONENT_WIDTH_LIMIT = 0.5
# Inputs within 1% of each other count as the same value (e.g. rounded parameter counts).
DISTINCT_TOLERANCE = 0.01
# A run whose loss is within 2 x E is close enough to the floor that the data see E directly;
# when every run is above 2 x E, E is an extrapolation from terms that still dominate the loss.
FLOOR_FACTOR = 2.0
# Chinchilla-optimal runs use ~20 tokens per parameter (Hoffmann et al. 2022); when every run
# has fewer than 1, the data term dominates everywhere and the fit cannot separate A/N^alpha from
# B/D^beta and E.
MIN_TOKENS_PER_PARAMETER = 1.0


@dataclasses.dataclass
class Assessment:
  """The verdict on one fit.

  Attributes:
    form: name of the assessed form.
    identifiable: False when any check fired.
    warnings: one line per reason: the parameter or input, the numbers, and what to do.
    details: the numbers behind every check (condition number; the centre of the data, the
      coefficients' term intervals and ratios, their own interval ratios, the exponents'
      widths; distinct counts; regime figures), JSON-serialisable.
  """
  form: str
  identifiable: bool
  warnings: list[str]
  details: dict[str, Any]

  def to_json(self) -> dict[str, Any]:
    """form, identifiable, warnings and details; non-finite numbers become None."""
    return dict(form=self.form, identifiable=self.identifiable, warnings=list(self.warnings),
                details=atomic.json_safe(self.details))


def scaled_condition_number(matrix: np.ndarray) -> float:
  """Condition number of a symmetric positive semi-definite matrix scaled to unit diagonal.

  S = D^-1/2 H D^-1/2 with D = diag(H); returns max / min eigenvalue of S (inf when H has a
  zero diagonal entry or S is singular). The scaling makes the number independent of the units
  (and raw coordinates) of the parameters.
  """
  matrix = np.asarray(matrix, np.float64)
  if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
    raise ValueError(f"matrix must be square; got shape {matrix.shape}")
  diagonal = np.diag(matrix)
  if np.any(diagonal <= 0):
    return float("inf")
  scale = 1 / np.sqrt(diagonal)
  eigenvalues = np.linalg.eigvalsh(matrix * scale[:, None] * scale[None, :])
  if eigenvalues[0] <= eigenvalues[-1] * np.finfo(np.float64).eps:
    return float("inf")
  return float(eigenvalues[-1] / eigenvalues[0])


def data_centre(form: forms_lib.Form, inputs: Mapping[str, np.ndarray]) -> dict[str, float]:
  """The centre of the observations: the geometric mean of each input of `form` (natural units).

  Inputs enter the forms through their logs, so the centre is the mean of each log input.
  """
  arrays = form.check_inputs(inputs)
  return {name: float(np.exp(np.mean(np.log(values)))) for name, values in arrays.items()}


def coefficient_terms(form: forms_lib.Form, raw: np.ndarray,
                      point: Mapping[str, float]) -> dict[str, np.ndarray]:
  """dL / d log p (nats/token) at one input point, for each log-scale free parameter p.

  For a coefficient that multiplies additive terms of the law this is the loss those terms
  carry at `point` (A / N^alpha for A in the Chinchilla form, a M^eta C^-eta for a in the
  over-training form, E for E); for any other form it is the change of the loss per e-fold
  change of p: L d log L / d log p, from the form's `log_jacobian` (forward differentiation),
  so it needs no knowledge of the form's structure.

  Args:
    form: the law.
    raw: (samples, P) parameter vectors in the form's raw coordinates, e.g. bootstrap refits.
    point: one value per input of the form, natural units.

  Returns:
    name -> (samples,) float64 for every log-scale free parameter, in the form's order.
  """
  raw = np.asarray(raw, np.float64).reshape(-1, len(form.parameters))
  arrays = form.check_inputs({name: np.atleast_1d(point[name]) for name in form.inputs
                              if name in point})
  if raw.shape[0] == 0:
    derivatives = np.zeros((0, len(form.parameters)))
  else:
    loss = np.exp(form.log_predict_raw(raw, arrays))[:, 0]
    derivatives = loss[:, None] * form.log_jacobian(raw, arrays)[:, 0, :]
  return {parameter.name: derivatives[:, column]
          for column, parameter in enumerate(form.parameters) if parameter.log_scale}


def distinct_count(values: np.ndarray, tolerance: float = DISTINCT_TOLERANCE) -> int:
  """Number of distinct positive values, values within `tolerance` (relative) counting as one."""
  ordered = np.sort(np.asarray(values, np.float64).reshape(-1))
  if ordered.size == 0:
    return 0
  return 1 + int(np.sum(ordered[1:] > ordered[:-1] * (1 + tolerance)))


_ADVICE = {
    "E": "the runs do not reach the loss floor: add longer runs or larger models, or fix E "
         "(e.g. at the corpus entropy)",
    "A": "add model sizes over a wider range of N",
    "alpha": "add model sizes over a wider range of N",
    "B": "add token counts over a wider range of D",
    "beta": "add token counts over a wider range of D",
}
_DEFAULT_ADVICE = "add runs over a wider range of the inputs, or fix this parameter"
_E_AT_UPPER_BOUND = ("the lowest-loss runs flatten out more than the form allows: check them "
                     "(repeated data, a saturated evaluation set) or fix E")


def _bound_reasons(form, params, jacobian, bounds, at_bound_names):
  warnings, details = [], {}
  for name in form.param_names:
    low, high = bounds.get(name, (-math.inf, math.inf))
    value = params[name]
    sides = [(abs(value - bound), side, bound)
             for side, bound in (("lower", low), ("upper", high)) if math.isfinite(bound)]
    if not sides:
      continue
    distance, side, bound = min(sides)
    if distance <= BOUND_TOLERANCE * (abs(bound) if bound != 0 else 1.0) or (
        name in at_bound_names):
      details[name] = dict(value=value, bound=bound, side=side)
      advice = _E_AT_UPPER_BOUND if (name, side) == ("E", "upper") else _ADVICE.get(
          name, _DEFAULT_ADVICE)
      warnings.append(f"{name} = {value:.4g} is at its {side} bound {bound:.4g}: the bound, "
                      f"not the data, sets it; {advice}")
  collapsed = {}
  for column, parameter in enumerate(form.parameters):
    if not parameter.log_scale or parameter.name in details:
      continue
    effect = float(np.max(np.abs(jacobian[:, column]))) if jacobian.size else 0.0
    collapsed[parameter.name] = effect
    if effect < COLLAPSE_FRACTION:
      warnings.append(
          f"{parameter.name} fitted to ~0 ({parameter.name} = {params[parameter.name]:.3g}; its "
          f"term moves the predicted loss by at most {effect:.1e} (relative) at any run): "
          f"{_ADVICE.get(parameter.name, _DEFAULT_ADVICE)}")
  return warnings, dict(at_bound=details, largest_relative_effect=collapsed)


def _ratio(low, high):
  return high / low if low > 0 else math.inf


def _interval_reasons(form, params, bootstrap_result, arrays, jacobian, interval_factor):
  if bootstrap_result is None:
    return [], dict(skipped="no bootstrap result given; interval widths not checked")
  if bootstrap_result.form.raw_names != form.raw_names:
    raise ValueError(f"bootstrap_result refits {bootstrap_result.form.name} "
                     f"{bootstrap_result.form.raw_names}; the fit is {form.name} "
                     f"{form.raw_names}: bootstrap the assessed form")
  warnings, ratios, term_ratios, term_intervals, widths = [], {}, {}, {}, {}
  level = bootstrap_result.level
  centre = data_centre(form, arrays)
  terms = coefficient_terms(form, bootstrap_result.raw, centre)
  fitted_terms = jacobian * form.predict(params, **arrays)[:, None]
  where = ", ".join(f"{name} = {value:.3g}" for name, value in centre.items())
  for column, parameter in enumerate(form.parameters):
    name = parameter.name
    if name not in bootstrap_result.ci:
      continue
    low, high = bootstrap_result.ci[name]
    if parameter.log_scale:
      ratios[name] = _ratio(low, high)
      term_low, term_high = (float(x) for x in bootstrap_lib.percentile_interval(
          terms[name], level))
      term_intervals[name] = [term_low, term_high]
      term_ratios[name] = _ratio(term_low, term_high)
      if term_ratios[name] <= interval_factor:
        continue
      if np.allclose(fitted_terms[:, column], params[name], rtol=1e-9, atol=0.0):
        what = f"{level:.0%} bootstrap interval [{low:.3g}, {high:.3g}]"
      else:
        what = (f"{level:.0%} bootstrap interval of its term at the centre of the data "
                f"({where}) [{term_low:.3g}, {term_high:.3g}] nats/token")
      warnings.append(f"{name}: {what} spans a factor {term_ratios[name]:.3g} > "
                      f"{interval_factor:g}; {_ADVICE.get(name, _DEFAULT_ADVICE)}")
    else:
      width = high - low
      widths[name] = width
      if not width <= EXPONENT_WIDTH_LIMIT:
        warnings.append(
            f"{name}: {level:.0%} bootstrap interval [{low:.3g}, {high:.3g}] is "
            f"{width:.3g} wide > {EXPONENT_WIDTH_LIMIT:g}; "
            f"{_ADVICE.get(name, _DEFAULT_ADVICE)}")
  return warnings, dict(level=level, centre=centre, term_interval=term_intervals,
                        term_ratio=term_ratios, ratio=ratios, width=widths,
                        n_resamples=bootstrap_result.n_resamples,
                        n_failed=bootstrap_result.n_failed)


def _conditioning_reasons(form, jacobian, weights, condition_limit):
  hessian = jacobian.T @ (weights[:, None] * jacobian)
  condition = scaled_condition_number(hessian)
  details = dict(condition_number=condition, limit=condition_limit)
  if condition <= condition_limit:
    return [], details
  diagonal = np.diag(hessian)
  if np.any(diagonal <= 0):
    involved = [n for n, h in zip(form.raw_names, diagonal) if h <= 0]
  else:
    scale = 1 / np.sqrt(diagonal)
    _, vectors = np.linalg.eigh(hessian * scale[:, None] * scale[None, :])
    weakest = vectors[:, 0]
    involved = [n for n, v in zip(form.raw_names, weakest) if abs(v) > 0.3]
  details["weakest_direction"] = involved
  return [f"ill-conditioned Hessian at the optimum (condition number {condition:.2g} > "
          f"{condition_limit:.2g} after scaling to unit diagonal): the data barely constrain "
          f"the combination of {', '.join(involved)}; add runs over a wider range of the "
          f"inputs or fix one of these parameters"], details


def _distinct_reasons(form, arrays, min_distinct):
  warnings, counts = [], {}
  for name in form.inputs:
    counts[name] = distinct_count(arrays[name])
    if counts[name] < min_distinct:
      unit = forms_lib.INPUT_UNITS.get(name, name)
      warnings.append(f"only {counts[name]} distinct values of {name} ({unit}) (need at least "
                      f"{min_distinct}): add runs at more values of {name}")
  return warnings, dict(counts=counts, min_distinct=min_distinct, tolerance=DISTINCT_TOLERANCE)


def _regime_reasons(form, params, bootstrap_result, inputs, loss):
  warnings, details = [], {}
  if "E" in form.param_names:
    reference, named = params["E"], f"E = {params['E']:.3g}"
    if bootstrap_result is not None and "E" in bootstrap_result.ci:
      high = float(bootstrap_result.ci["E"][1])
      if math.isfinite(high) and high > reference:
        reference = high
        named = f"the upper end of E's {bootstrap_result.level:.0%} interval, {high:.3g}"
    floor_ratio = float(np.min(loss) / reference) if reference > 0 else math.inf
    details["min_loss_over_E"] = floor_ratio
    details["E_reference"] = float(reference)
    if floor_ratio > FLOOR_FACTOR:
      warnings.append(
          f"every run is far from the loss floor (smallest loss {np.min(loss):.3g} = "
          f"{floor_ratio:.3g} x {named} nats/token, > {FLOOR_FACTOR:g} x): E is "
          f"an extrapolation; add longer runs or larger models, or fix E")
  if "m" in form.inputs:
    tokens_per_parameter = np.asarray(inputs["m"], np.float64)
  elif {"n", "d"} <= set(form.inputs):
    tokens_per_parameter = np.asarray(inputs["d"], np.float64) / np.asarray(inputs["n"])
  else:
    return warnings, details
  largest = float(np.max(tokens_per_parameter))
  details["max_tokens_per_parameter"] = largest
  if largest < MIN_TOKENS_PER_PARAMETER:
    warnings.append(
        f"every run is under-trained (at most {largest:.3g} tokens per parameter, < "
        f"{MIN_TOKENS_PER_PARAMETER:g}; Chinchilla-optimal is ~20): add runs with more tokens "
        f"per parameter")
  return warnings, details


def assess(fit_result: fit_lib.FitResult,
           bootstrap_result: bootstrap_lib.BootstrapResult | None,
           inputs: Mapping[str, np.ndarray], loss: np.ndarray, *,
           bounds: Mapping[str, tuple[float, float]] | None = None,
           interval_factor: float = 10.0, condition_limit: float = 1e8, min_distinct: int = 3,
           weights: np.ndarray | None = None) -> Assessment:
  """Checks whether `fit_result` is identifiable from these observations.

  Args:
    fit_result: the fit to assess; its `bounds` (when it has them) are used unless `bounds` is
      given, and names in its `diagnostics["at_bound"]` count as at a bound.
    bootstrap_result: refits of the same form (its `raw` samples give the coefficients'
      term intervals), or None to skip the interval check.
    inputs: the observations' inputs by name in natural units (n parameters, d tokens, c FLOPs,
      m tokens per parameter); may hold more than the form takes.
    loss: observed loss per point, nats/token.
    bounds: name -> (low, high) in natural units; absent names are unbounded.
    interval_factor: largest acceptable high / low of the interval of a positive
      coefficient's term at the centre of the data (of E's own interval for E).
    condition_limit: largest acceptable scaled condition number of the Gauss-Newton Hessian.
    min_distinct: fewest distinct values each input of the form needs.
    weights: observation weights of the fit (uniform when None), used in the Hessian.

  Returns:
    Assessment: identifiable, one warning line per reason, and the numbers in details.
  """
  if not interval_factor > 1:
    raise ValueError(f"interval_factor={interval_factor} must be > 1 (a ratio high / low)")
  if not condition_limit > 1:
    raise ValueError(f"condition_limit={condition_limit} must be > 1")
  if min_distinct < 1:
    raise ValueError(f"min_distinct={min_distinct} must be >= 1")
  form = fit_result.form
  arrays, loss, weights = fit_lib.check_observations(form, inputs, loss, weights)
  params = dict(fit_result.params)
  if not all(math.isfinite(params[name]) for name in form.param_names):
    return Assessment(form=form.name, identifiable=False,
                      warnings=[f"{form.name}: the fit failed (non-finite parameters); "
                                f"nothing to assess"], details={})
  if bounds is None:
    bounds = getattr(fit_result, "bounds", None) or {}
  unknown = set(bounds) - set(params)
  if unknown:
    raise ValueError(f"bounds name unknown parameters {sorted(unknown)}; the form has "
                     f"{form.param_names}")
  at_bound = fit_result.diagnostics.get("at_bound") or ()
  if isinstance(at_bound, Mapping):
    at_bound = [name for name, flag in at_bound.items() if flag]
  jacobian = form.log_jacobian(form.to_raw(params), arrays)
  checks = dict(
      bounds=_bound_reasons(form, params, jacobian, bounds, set(at_bound)),
      intervals=_interval_reasons(form, params, bootstrap_result, arrays, jacobian,
                                  interval_factor),
      conditioning=_conditioning_reasons(form, jacobian, weights, condition_limit),
      distinct=_distinct_reasons(form, arrays, min_distinct),
      regime=_regime_reasons(form, params, bootstrap_result, inputs, loss),
  )
  warnings = [line for reasons, _ in checks.values() for line in reasons]
  details = {name: numbers for name, (_, numbers) in checks.items()}
  return Assessment(form=form.name, identifiable=not warnings, warnings=warnings,
                    details=details)
