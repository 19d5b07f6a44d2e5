"""The steps of an analysis (`STEPS`, in the order `pipeline.analyse` runs them) and what they read.

A step is `run(data, settings, done) -> Outcome`: `data` the prepared runs (`Prepared`),
`settings` the analysis's options (`Settings`), `done` the outcomes of the steps before it by
name. Its outcome holds its result (the fitted object, for the figures), its fits.json block
(naming its N and C conventions) and its warning lines. Numbers: parameters (count), tokens,
FLOPs, loss in nats/token.
"""
import pathlib
from typing import NamedTuple

import numpy as np

from analysis.approaches import envelope
from analysis.approaches import isoflop
from analysis.approaches import optimal
from analysis.fitting import bootstrap
from analysis.fitting import fit
from analysis.laws import catalogue
from analysis.laws import forms
from analysis.laws import published
from analysis.report import auxiliary
from analysis.report import conventions
from analysis.report import held_out_steps
from analysis.report import irreducible_loss
from analysis.report import law_fits
from analysis.report import markdown
from analysis.report.step_types import Done, Outcome, Prepared, Settings, Step
from analysis.table import observations as observations_lib
from analysis.trust import calibration
from analysis.trust import intervals
from analysis.trust import known_floor
from analysis.trust import residuals

# Built once so that repeated analyses in one process reuse the compiled searches.
_SINGLE_VARIABLE_FORMS = {x: catalogue.single_variable(x) for x in ("n", "d", "c")}


class Approach3(NamedTuple):
  """Approach 3's law fitted on all runs, its bootstrap, and the run-to-run noise of its
  prediction intervals (`prediction_noise`)."""
  fitted: fit.FitResult
  resampled: bootstrap.BootstrapResult
  noise: intervals.Noise


def _fit_law(form: forms.Form, inputs: dict[str, np.ndarray], loss: np.ndarray,
             weights: np.ndarray, data: Prepared, settings: Settings,
             subset: np.ndarray | None = None) -> law_fits.LawFit:
  """The law fitted on every run, or on the runs `subset` indexes (inputs, loss and weights
  already cut to them), its bootstrap drawing whole blocks of those runs."""
  blocks = data.clean.bootstrap_blocks()
  if blocks is not None and subset is not None:
    blocks = blocks[subset]
  return law_fits.fit_law(form, inputs, loss, weights=weights, conventions=data.conventions,
                          options=settings.fit_options, blocks=blocks, **settings.resampling())


def _approach3(data: Prepared, settings: Settings, done: Done) -> Outcome:
  """Approach 3: the Approach-3 law on every run, bootstrapped, with its prediction noise."""
  runs = data.runs
  law = _fit_law(settings.fit_options.approach3_form(), dict(n=runs["n"], d=runs["d"]),
                 runs["loss"], data.weights, data, settings)
  noise = prediction_noise(law.fitted, runs, data.groups.pooled_log_sd)
  block, warnings = law.block, list(law.warnings)
  if data.known_floor is not None and "E" in law.fitted.params:
    truth = known_floor.check(data.known_floor, law.fitted.params["E"], law.resampled.ci["E"],
                              law.resampled.level)
    block = dict(block, known_floor=truth.to_json())
    if not truth.covered:
      warnings.append(f"approach3: E's {truth.level:.0%} interval does not cover the corpus's "
                      f"known floor ({truth.line()})")
  return Outcome(Approach3(law.fitted, law.resampled, noise), block, warnings)


def prediction_noise(fitted: fit.FitResult, runs: dict[str, np.ndarray],
                     pooled_log_sd: float | None) -> intervals.Noise:
  """The run-to-run noise added to prediction intervals: the pooled log-space seed sd when
  some runs were repeated over seeds, else the fit's own log residuals (nats are logged)."""
  if pooled_log_sd is not None:
    return float(pooled_log_sd)
  predicted = intervals.predict(fitted.form, fitted.params, dict(n=runs["n"], d=runs["d"]))
  with np.errstate(invalid="ignore", divide="ignore"):
    log_residuals = np.log(predicted) - np.log(runs["loss"])
  finite = log_residuals[np.isfinite(log_residuals)]
  return finite if finite.size else 0.0


def _kaplan(data: Prepared, settings: Settings, done: Done) -> Outcome:
  """Kaplan et al.'s L(N, D) on every run."""
  runs = data.runs
  law = _fit_law(catalogue.KAPLAN_ND, dict(n=runs["n"], d=runs["d"]), runs["loss"], data.weights,
                 data, settings)
  return Outcome(None, law.block, law.warnings)


def _single_variable(data: Prepared, settings: Settings, done: Done) -> Outcome:
  """L(N), L(D), L(C), each on the runs of the lower envelope of final loss against its
  variable; a law that fails is skipped with a warning. Empty unless `settings.single_variable`."""
  runs, fitted, blocks, warnings = data.runs, {}, {}, []
  for variable, form in _SINGLE_VARIABLE_FORMS.items() if settings.single_variable else ():
    frontier = envelope.lower_envelope(runs[variable], runs["loss"])
    law, failure = auxiliary.attempt(f"{form.name} fit", warnings, lambda: _fit_law(
        form, {variable: runs[variable][frontier]}, runs["loss"][frontier],
        data.weights[frontier], data, settings, subset=frontier))
    if law is None:
      blocks[variable] = dict(form=form.name, skipped=failure, conventions=data.conventions)
    else:
      blocks[variable] = law.block
      warnings.extend(law.warnings)
      if law.fitted is not None:
        fitted[variable] = law.fitted
    blocks[variable]["fitted_on"] = (
        f"the {len(frontier)} runs on the lower envelope of final loss against {variable}")
  return Outcome(fitted, blocks, warnings)


def _approach1(data: Prepared, settings: Settings, done: Done) -> Outcome:
  result, reason = approach1_from_curves(data.clean, data.runs, **settings.resampling())
  if result is None:
    return Outcome(None, data.skipped(reason))
  return Outcome(result, dict(result.to_json(), conventions=data.conventions), result.warnings)


def approach1_from_curves(clean: observations_lib.Observations, runs: dict[str, np.ndarray], *,
                          n_resamples: int, level: float, seed: int
                          ) -> tuple[envelope.Approach1Result | None, str]:
  """Approach 1 when every run has an eval curve on disk; else (None, why it was skipped).

  `runs` are `clean.arrays(...)` under the chosen conventions; each run's FLOPs per token is
  its C / D, so a curve's compute is C(t) = (C / D) * tokens(t).
  """
  if not all(clean.curve_path):
    return None, "no per-run eval curves (curve_path): final losses alone cannot give Approach 1"
  missing = [path for path in clean.curve_path if not pathlib.Path(path).is_file()]
  if missing:
    return None, f"{len(missing)} curve file(s) missing, e.g. {missing[0]}"
  curves = [observations_lib.load_curve(path) for path in clean.curve_path]
  try:
    return envelope.approach1(runs["n"], runs["c"] / runs["d"], curves,
                              n_resamples=n_resamples, level=level, seed=seed), ""
  except ValueError as error:
    return None, str(error)


def _approach2(data: Prepared, settings: Settings, done: Done) -> Outcome:
  """Approach 2, skipped with the reason when the runs are no IsoFLOP sweep."""
  runs = data.runs
  try:
    result = isoflop.approach2(runs["n"], runs["d"], runs["c"], runs["loss"],
                               budget=data.clean.budget, window=settings.parabola_window,
                               **settings.resampling(), **settings.budgets())
  except ValueError as error:
    return Outcome(None, data.skipped(str(error)))
  return Outcome(result, dict(result.to_json(), conventions=data.conventions), result.warnings)


def _diagnostics(data: Prepared, settings: Settings, done: Done) -> Outcome:
  """Residual diagnostics of the Approach-3 fit, per IsoFLOP budget where runs group into any."""
  runs, fitted = data.runs, done["approach3"].result.fitted
  labels, flops = isoflop.group_budgets(runs["c"], data.clean.budget, **settings.budgets())
  result = residuals.diagnose(
      fitted.form, fitted.params, dict(n=runs["n"], d=runs["d"]), runs["loss"],
      budgets=np.where(labels >= 0, flops[np.maximum(labels, 0)], np.nan)
      if np.any(labels >= 0) else None)
  return Outcome(result, dict(result.to_json(), conventions=data.conventions),
                 [f"{fitted.form.name}: {line}" for line in result.warnings])


def _published(data: Prepared, settings: Settings, done: Done) -> Outcome:
  return Outcome(None, {key: law.to_json() for key, law in published.LAWS.items()})


def table_budgets(data: Prepared, settings: Settings) -> list[float]:
  """The allocation table's budgets (FLOPs): `settings.table_flops`, or by default the largest
  observed C times 1, 10, 100 and 1000 to one significant digit."""
  if settings.table_flops is not None:
    return settings.table_flops
  top = float(np.max(data.runs["c"]))
  return [float(f"{top * 10 ** k:.1g}") for k in range(4)]


def allocations(approach3: fit.FitResult, approach3_bootstrap: bootstrap.BootstrapResult,
                approach1: envelope.Approach1Result | None,
                approach2: isoflop.Approach2Result | None, flops: np.ndarray, *,
                identifiable: bool, level: float, conventions: dict[str, str]
                ) -> list[optimal.Allocation]:
  """N_opt, D_opt at `flops` (FLOPs) from Approach 3 (with its fit's `identifiable` verdict),
  Approaches 1 and 2 where fitted, then every published law that gives one; intervals at
  `level` from each approach's bootstrap."""
  flops = np.asarray(flops, dtype=np.float64)
  label = markdown.convention_label(conventions)
  found = [optimal.from_chinchilla(
      approach3.params, flops, source="Approach 3 (this fit)", convention=label,
      samples=approach3_bootstrap.samples, level=level, identifiable=identifiable)]
  for name, result in (("Approach 1 (this fit)", approach1),
                       ("Approach 2 (this fit)", approach2)):
    if result is not None:
      found.append(optimal.from_power_laws(
          result.n_opt_law, result.d_opt_law, flops, source=name, convention=label,
          samples=result.samples, level=level))
  for law in published.LAWS.values():
    allocation = optimal.from_published(law, flops)
    if allocation is not None:
      found.append(allocation)
  return found


def _optimal_allocation(data: Prepared, settings: Settings, done: Done) -> Outcome:
  """The allocation table at `table_budgets` from every approach and published law."""
  approach3 = done["approach3"]
  found = allocations(approach3.result.fitted, approach3.result.resampled,
                      done["approach1"].result, done["approach2"].result,
                      table_budgets(data, settings),
                      identifiable=approach3.block["identifiable"], level=settings.level,
                      conventions=data.conventions)
  return Outcome(found, dict(conventions=data.conventions, closed_form_assumes="C = 6ND",
                             rows=[row for allocation in found for row in allocation.rows()]))


def _compute_optimal_loss(data: Prepared, settings: Settings, done: Done) -> Outcome:
  """Approach 3's loss at the compute-optimal point of each table budget, with its bootstrap
  intervals and, beside them, the prediction and one-run interval calibrated by the rollout's
  record (`analysis.trust.calibration`; distance in decades of the rollout's split variable, C or
  N_opt, beyond the largest run), and which of the two intervals the report leads with."""
  approach3 = done["approach3"].result
  flops = np.asarray(table_budgets(data, settings), dtype=np.float64)
  n_opt, d_opt, loss = optimal.optimal_point(approach3.fitted.form, approach3.fitted.params,
                                             flops)
  band = intervals.compute_optimal_interval(approach3.resampled, flops, level=settings.level,
                                            noise=approach3.noise)
  noise = ("pooled seed sd" if isinstance(approach3.noise, float)
           else "resampled log residuals of the fit")
  found = done["calibration"].result if "calibration" in done else None
  headline, reason = calibration.headline(found)
  split_by = done["rollout"].result.split_by if found is not None else "c"
  target, observed = (n_opt, data.runs["n"]) if split_by == "n" else (flops, data.runs["c"])
  distance = np.log10(target / np.max(observed))
  point, low, high = (found or calibration.uncalibrated(settings.level)).interval(
      loss, band.low, band.high, distance)
  return Outcome(None, dict(
      form=approach3.fitted.form.name, level=settings.level, noise=noise,
      conventions=data.conventions, headline=headline, headline_reason=reason,
      distance_in=split_by,
      rows=[dict(flops=float(c), n_opt=float(n), d_opt=float(d), loss=float(value),
                 run_low=float(lo), run_high=float(hi), mean_low=float(plo),
                 mean_high=float(phi), distance=float(x), calibrated_loss=float(cp),
                 calibrated_low=float(cl), calibrated_high=float(ch))
            for c, n, d, value, lo, hi, plo, phi, x, cp, cl, ch in zip(
                flops, n_opt, d_opt, loss, band.low, band.high, band.parameter_low,
                band.parameter_high, distance, point, low, high)]))


def _convention_comparison(data: Prepared, settings: Settings, done: Done) -> Outcome:
  return Outcome(None, conventions.compare(
      data.clean, options=settings.fit_options, weights=data.weights,
      nominal_budgets=settings.nominal_budgets, tolerance_decades=settings.tolerance_decades,
      parabola_window=settings.parabola_window))


STEPS = (
    Step("approach3", _approach3),
    Step("kaplan_nd", _kaplan, label=f"{catalogue.KAPLAN_ND.name} fit",
         on_failure=lambda reason, data: dict(form=catalogue.KAPLAN_ND.name,
                                              **data.skipped(reason)),
         enabled=lambda settings: settings.kaplan),
    Step("single_variable", _single_variable),
    Step("approach1", _approach1, label="Approach 1"),
    Step("approach2", _approach2, label="Approach 2"),
    Step("residual_diagnostics", _diagnostics, label="residual diagnostics"),
    Step("published", _published),
    Step("extrapolation", held_out_steps.extrapolation, label="held-out extrapolation"),
    Step("rollout", held_out_steps.rollout_record, label="rollout"),
    Step("calibration", held_out_steps.calibration_record, label="calibration"),
    Step("irreducible_loss", irreducible_loss.run, label="E over the forms"),
    Step("optimal_allocation", _optimal_allocation),
    Step("compute_optimal_loss", _compute_optimal_loss, label="compute-optimal loss"),
    Step("convention_comparison", _convention_comparison, label="convention comparison",
         on_failure=lambda reason, data: []),
)
