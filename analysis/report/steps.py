"""The steps of an analysis (`STEPS`, in the order `pipeline.analyse` runs them) and what they read.

A step is `run(data, settings, done) -> Outcome`: `data` the prepared runs (`Prepared`),
`settings` the analysis's options (`Settings`), `done` the outcomes of the steps before it by
name. Its outcome holds its result (the fitted object, for the figures), its fits.json block
(naming its N and C conventions) and its warning lines. Numbers: parameters (count), tokens,
FLOPs, loss in nats/token.
"""
from collections.abc import Callable, Mapping
import dataclasses
import pathlib
from typing import Any, NamedTuple

import numpy as np

from analysis.approaches import envelope
from analysis.approaches import isoflop
from analysis.approaches import optimal
from analysis.fitting import bootstrap
from analysis.fitting import fit
from analysis.fitting import options as options_lib
from analysis.laws import catalogue
from analysis.laws import forms
from analysis.laws import published
from analysis.report import auxiliary
from analysis.report import conventions
from analysis.report import law_fits
from analysis.report import markdown
from analysis.table import observations as observations_lib
from analysis.table import seeds
from analysis.trust import extrapolate
from analysis.trust import intervals
from analysis.trust import residuals
from analysis.trust import rollout

# Built once so that repeated analyses in one process reuse the compiled searches.
_SINGLE_VARIABLE_FORMS = {x: catalogue.single_variable(x) for x in ("n", "d", "c")}


@dataclasses.dataclass(frozen=True)
class Settings:
  """How an analysis runs; see `pipeline.analyse`.

  Attributes:
    n_resamples: bootstrap resamples per law (each a full refit).
    level: the level of every interval, in (0, 1).
    holdout_flops: the held-out extrapolation's threshold (FLOPs); None takes
      `extrapolate.default_threshold`.
    nominal_budgets: IsoFLOP budgets (FLOPs) the runs are grouped to; None infers them.
    tolerance_decades: the IsoFLOP grouping's tolerance, decades of C.
    parabola_window: Approach 2 fits each budget's parabola to this many sizes on each side of
      its lowest loss (`isoflop.approach2`'s window); None fits every size (Hoffmann et al.).
    table_flops: the allocation table's budgets (FLOPs); None takes the largest observed C
      times 1, 10, 100 and 1000 (`table_budgets`).
    kaplan: also fit Kaplan et al.'s L(N, D) (Eq. 1.5).
    single_variable: also fit L(N), L(D), L(C) on the lower envelopes of the final losses.
    seed: the bootstrap seed.
    fit_options: how every parametric law is fitted (`analysis.fitting.options`).
  """
  n_resamples: int = 1000
  level: float = 0.95
  holdout_flops: float | None = None
  nominal_budgets: list[float] | None = None
  tolerance_decades: float = 0.05
  parabola_window: int | None = None
  table_flops: list[float] | None = None
  kaplan: bool = True
  single_variable: bool = True
  seed: int = 0
  fit_options: options_lib.FitOptions = options_lib.FitOptions()

  def budgets(self) -> dict[str, Any]:
    """The IsoFLOP grouping's keywords: `nominal` budgets (FLOPs) and `tolerance_decades`."""
    return dict(nominal=self.nominal_budgets, tolerance_decades=self.tolerance_decades)

  def resampling(self) -> dict[str, Any]:
    """The bootstrap's keywords: `n_resamples`, `level` and `seed`."""
    return dict(n_resamples=self.n_resamples, level=self.level, seed=self.seed)


@dataclasses.dataclass(frozen=True)
class Prepared:
  """The runs every step reads (`pipeline.prepare`).

  Attributes:
    source: where the observations came from.
    n_runs: the number of observations before cleaning.
    clean: the usable runs, those that differ only in seed averaged (`seeds.aggregate`).
    groups: the seed groups behind `clean`, with the pooled seed sd of log loss.
    runs: `clean.arrays` under `conventions`: n (parameters), d (tokens), c (FLOPs) and loss
      (nats/token), one entry per row of `clean`.
    conventions: {'n': the N convention, 'c': the C convention}.
    weights: the observation weight of each row of `clean` (`FitOptions.weights`), mean 1.
    warnings: what cleaning and averaging reported.
  """
  source: str
  n_runs: int
  clean: observations_lib.Observations
  groups: seeds.SeedGroups
  runs: dict[str, np.ndarray]
  conventions: dict[str, str]
  weights: np.ndarray
  warnings: tuple[str, ...]

  def skipped(self, reason: str) -> dict[str, Any]:
    """The block of a step skipped for `reason`, under these conventions."""
    return dict(skipped=reason, conventions=self.conventions)


class Outcome(NamedTuple):
  """What one step produced: `result` (for the figures; None when there is none), its
  fits.json `block`, and the warning lines it adds to the report, in order."""
  result: Any
  block: Any
  warnings: tuple[str, ...] | list[str] = ()


Done = Mapping[str, Outcome]


@dataclasses.dataclass(frozen=True)
class Step:
  """One named step of an analysis.

  Attributes:
    name: the key of its block in the summary, and of its outcome in `done`.
    run: (data, settings, done) -> Outcome.
    label: a side step's name in the warning of its failure; None for a step whose failure
      is the analysis's (Approach 3, and the steps that only assemble numbers).
    on_failure: (the failure's reason, data) -> the block of a side step that failed.
    enabled: whether the settings ask for the step at all (its block is absent when not).
  """
  name: str
  run: Callable[[Prepared, Settings, Done], Outcome]
  label: str | None = None
  on_failure: Callable[[str, Prepared], Any] = lambda reason, data: data.skipped(reason)
  enabled: Callable[[Settings], bool] = lambda settings: True


class Approach3(NamedTuple):
  """Approach 3's law fitted on all runs, its bootstrap, and the run-to-run noise of its
  prediction intervals (`prediction_noise`)."""
  fitted: fit.FitResult
  resampled: bootstrap.BootstrapResult
  noise: intervals.Noise


def _fit_law(form: forms.Form, inputs: dict[str, np.ndarray], loss: np.ndarray,
             weights: np.ndarray, data: Prepared, settings: Settings) -> law_fits.LawFit:
  return law_fits.fit_law(form, inputs, loss, weights=weights, conventions=data.conventions,
                          options=settings.fit_options, blocks=data.clean.bootstrap_blocks(),
                          **settings.resampling())


def _approach3(data: Prepared, settings: Settings, done: Done) -> Outcome:
  """Approach 3: the Approach-3 law on every run, bootstrapped, with its prediction noise."""
  runs = data.runs
  law = _fit_law(settings.fit_options.approach3_form(), dict(n=runs["n"], d=runs["d"]),
                 runs["loss"], data.weights, data, settings)
  noise = prediction_noise(law.fitted, runs, data.groups.pooled_log_sd)
  return Outcome(Approach3(law.fitted, law.resampled, noise), law.block, law.warnings)


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
        data.weights[frontier], data, settings))
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


def _extrapolation(data: Prepared, settings: Settings, done: Done) -> Outcome:
  """Approach 3 fitted below `settings.holdout_flops` (default
  `extrapolate.default_threshold`), predicting the runs above; each run named by its run_id."""
  runs = data.runs
  threshold = settings.holdout_flops
  if threshold is None:
    threshold = extrapolate.default_threshold(runs["c"])
  if threshold is None:
    return Outcome(None, data.skipped(
        "fewer than 3 compute budgets; pass --holdout_flops to choose a threshold"))
  try:
    result = extrapolate.extrapolate(
        settings.fit_options, dict(n=runs["n"], d=runs["d"]), runs["loss"], runs["c"],
        threshold, weights=data.weights, **settings.resampling())
  except ValueError as error:
    return Outcome(None, data.skipped(str(error)))
  block = dict(result.to_json(), conventions=data.conventions)
  block["runs"] = [dict(run, run_id=str(data.clean.run_id[run["index"]]))
                   for run in block["runs"]]
  return Outcome(result, block)


def _rollout(data: Prepared, settings: Settings, done: Done) -> Outcome:
  """The rollout of `fit_options.rollout_forms`, skipped with the reason when no threshold fits."""
  try:
    result = rollout.rollout(data.runs, settings.fit_options, weights=data.weights,
                             level=settings.level, seed=settings.seed,
                             run_ids=data.clean.run_id)
  except ValueError as error:
    return Outcome(None, data.skipped(str(error)))
  return Outcome(result, dict(result.to_json(), conventions=data.conventions))


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
  """Approach 3's loss at the compute-optimal point of each table budget, with its intervals."""
  approach3 = done["approach3"].result
  flops = np.asarray(table_budgets(data, settings), dtype=np.float64)
  n_opt, d_opt, loss = optimal.optimal_point(approach3.fitted.form, approach3.fitted.params,
                                             flops)
  band = intervals.compute_optimal_interval(approach3.resampled, flops, level=settings.level,
                                            noise=approach3.noise)
  noise = ("pooled seed sd" if isinstance(approach3.noise, float)
           else "resampled log residuals of the fit")
  return Outcome(None, dict(
      form=approach3.fitted.form.name, level=settings.level, noise=noise,
      conventions=data.conventions,
      rows=[dict(flops=float(c), n_opt=float(n), d_opt=float(d), loss=float(value),
                 run_low=float(lo), run_high=float(hi), mean_low=float(plo),
                 mean_high=float(phi))
            for c, n, d, value, lo, hi, plo, phi in zip(
                flops, n_opt, d_opt, loss, band.low, band.high, band.parameter_low,
                band.parameter_high)]))


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
    Step("extrapolation", _extrapolation, label="held-out extrapolation"),
    Step("rollout", _rollout, label="rollout"),
    Step("optimal_allocation", _optimal_allocation),
    Step("compute_optimal_loss", _compute_optimal_loss, label="compute-optimal loss"),
    Step("convention_comparison", _convention_comparison, label="convention comparison",
         on_failure=lambda reason, data: []),
)
