"""Runs every analysis of one set of observations under one pair of conventions.

Produces the fitted objects (for plots) and a JSON-able summary (for fits.json and the report).
Each block of the summary names its conventions; steps that cannot run on the given data are
recorded as {'skipped': reason}, and a side step that fails (`analysis.auxiliary`) as
{'skipped': 'failed (...)'} with a warning, rather than failing the whole analysis.
"""
import dataclasses
import pathlib

import numpy as np

from analysis.report import auxiliary
from analysis.fitting import bootstrap
from analysis.approaches import envelope
from analysis.trust import extrapolate
from analysis.fitting import fit
from analysis.laws import forms
from analysis.trust import intervals
from analysis.approaches import isoflop
from analysis.report import law_fits
from analysis.table import observations as observations_lib
from analysis.approaches import optimal
from analysis.laws import published
from analysis.trust import residuals
from analysis.trust import rollout
from analysis.table import seeds
from analysis.fitting import options as options_lib

# Built once so that repeated analyses in one process reuse the compiled searches.
_SINGLE_VARIABLE_FORMS = {x: forms.single_variable(x) for x in ("n", "d", "c")}


@dataclasses.dataclass
class Analysis:
  """Everything one run of the pipeline computed; `summary` is what fits.json holds."""
  runs: dict[str, np.ndarray]
  conventions: dict[str, str]
  approach3: fit.FitResult
  approach3_bootstrap: bootstrap.BootstrapResult
  single_variable: dict[str, fit.FitResult]
  approach1: envelope.Approach1Result | None
  approach2: isoflop.Approach2Result | None
  extrapolation: extrapolate.ExtrapolationResult | None
  level: float
  summary: dict
  noise: intervals.Noise
  diagnostics: residuals.Diagnostics | None
  rollout: rollout.RolloutResult | None

  def allocations_at(self, flops: np.ndarray) -> list[optimal.Allocation]:
    """N_opt, D_opt at `flops` from each approach fitted here (Approach 3's with its fit's
    identifiability verdict), then from the published laws."""
    flops = np.asarray(flops, dtype=np.float64)
    label = convention_label(self.conventions)
    allocations = [optimal.from_chinchilla(
        self.approach3.params, flops, source="Approach 3 (this fit)", convention=label,
        samples=self.approach3_bootstrap.samples, level=self.level,
        identifiable=self.summary["approach3"]["identifiable"])]
    for name, result in (("Approach 1 (this fit)", self.approach1),
                         ("Approach 2 (this fit)", self.approach2)):
      if result is not None:
        allocations.append(optimal.from_power_laws(
            result.n_opt_law, result.d_opt_law, flops, source=name, convention=label,
            samples=result.samples, level=self.level))
    for law in published.LAWS.values():
      allocation = optimal.from_published(law, flops)
      if allocation is not None:
        allocations.append(allocation)
    return allocations


def analyse(observations: observations_lib.Observations, *,
            n_convention: str = "non_embedding", c_convention: str = "6nd",
            n_resamples: int = 1000, level: float = 0.95, holdout_flops: float | None = None,
            nominal_budgets: list[float] | None = None, tolerance_decades: float = 0.05,
            table_flops: list[float] | None = None, kaplan: bool = True,
            single_variable: bool = True, seed: int = 0,
            fit_options: options_lib.FitOptions = options_lib.FitOptions()) -> Analysis:
  """Cleans the runs, fits Approaches 1-3 and single-variable laws, allocates, extrapolates.

  Runs that differ only in seed are averaged first (`analysis.seeds`); their spread is the noise of
  the prediction intervals when there is any, else the Approach-3 fit's residuals are. Every
  parametric law is fitted by the recipe of `analysis.fitting.options` under `fit_options`, as are
  the extrapolation, the rollout and the convention comparison; bootstrapped with `n_resamples` full
  refits and assessed for identifiability; `kaplan` adds Kaplan et al.'s L(N, D) (Eq. 1.5), and
  `single_variable` the laws L(N), L(D), L(C) on the lower envelopes of the final losses (each law
  costs one compilation of the fit and one of the bootstrap). The rollout compares
  `fit_options.rollout_forms` on held-out runs. Degenerate fits are reported as not identifiable; a
  side step that fails is skipped with a warning (`analysis.auxiliary`).
  """
  if not 0 < level < 1:
    raise ValueError(f"level={level}: must be in (0, 1), e.g. 0.95")
  law = fit_options.approach3_form()
  clean, warnings = observations.clean()
  groups = seeds.aggregate(clean)
  if len(groups.observations) < len(clean):
    warnings.append(f"averaged {len(clean)} runs into {len(groups.observations)} points over "
                    f"repeated seeds (pooled seed sd of log loss {groups.pooled_log_sd:.3g})")
  clean = groups.observations
  runs = clean.arrays(n=n_convention, c=c_convention)
  conventions = dict(n=n_convention, c=c_convention)
  n_params = len(law.param_names)
  if len(clean) <= n_params:
    raise ValueError(f"{len(clean)} usable runs after cleaning; the L(N, D) fit needs more "
                     f"than {n_params} (see the warnings: {warnings})")
  weights = fit_options.weights(flops=runs["c"], groups=groups)
  summary = dict(
      conventions=conventions,
      data=dict(source=observations.source, n_runs=len(observations), n_used=len(clean),
                one_parameter_count=bool(np.array_equal(clean.n_total, clean.n_non_embedding)),
                seeds_per_point=dict(max=int(groups.n_seeds.max()),
                                     pooled_log_sd=groups.pooled_log_sd)),
      fit_options=fit_options.to_json(),
      warnings=warnings)

  inputs = dict(n=runs["n"], d=runs["d"])
  law_options = dict(n_resamples=n_resamples, level=level, seed=seed, conventions=conventions,
                     warnings=warnings, options=fit_options)
  approach3, approach3_bootstrap, summary["approach3"] = law_fits.fit_law(
      law, inputs, runs["loss"], weights=weights, **law_options)
  if kaplan:
    summary["kaplan_nd"] = _side_fit(forms.KAPLAN_ND, inputs, runs["loss"], weights,
                                     law_options)[1]
  single_variable_fits, summary["single_variable"] = {}, {}
  for variable, form in _SINGLE_VARIABLE_FORMS.items() if single_variable else ():
    frontier = envelope.lower_envelope(runs[variable], runs["loss"])
    fitted, summary["single_variable"][variable] = _side_fit(
        form, {variable: runs[variable][frontier]}, runs["loss"][frontier], weights[frontier],
        law_options)
    summary["single_variable"][variable]["fitted_on"] = (
        f"the {len(frontier)} runs on the lower envelope of final loss against {variable}")
    if fitted is not None:
      single_variable_fits[variable] = fitted
  noise = prediction_noise(approach3, runs, groups.pooled_log_sd)

  outcome, failure = auxiliary.attempt("Approach 1", warnings, lambda: approach1_from_curves(
      clean, runs, n_resamples=n_resamples, level=level, seed=seed))
  approach1, skip_reason = outcome or (None, failure)
  summary["approach1"] = dict(
      approach1.to_json() if approach1 else dict(skipped=skip_reason), conventions=conventions)
  if approach1:
    warnings.extend(approach1.warnings)
  budgets = dict(nominal=nominal_budgets, tolerance_decades=tolerance_decades)
  outcome, failure = auxiliary.attempt("Approach 2", warnings, lambda: _approach2(
      runs, clean.budget, budgets, n_resamples=n_resamples, level=level, seed=seed))
  approach2, summary["approach2"] = outcome or (None, dict(skipped=failure))
  summary["approach2"]["conventions"] = conventions
  if approach2 is not None:
    warnings.extend(approach2.warnings)

  diagnostics, failure = auxiliary.attempt("residual diagnostics", warnings, lambda: _diagnose(
      approach3, runs, clean.budget, budgets))
  summary["residual_diagnostics"] = dict(
      diagnostics.to_json() if diagnostics is not None else dict(skipped=failure),
      conventions=conventions)
  if diagnostics is not None:
    warnings.extend(f"{law.name}: {line}" for line in diagnostics.warnings)

  if table_flops is None:
    top = float(np.max(runs["c"]))
    table_flops = [float(f"{top * 10 ** k:.1g}") for k in range(4)]
  summary["published"] = {key: law.to_json() for key, law in published.LAWS.items()}
  extrapolation, failure = auxiliary.attempt("held-out extrapolation", warnings, lambda: (
      _extrapolation(runs, holdout_flops, n_resamples, level, seed, summary,
                     options=fit_options, weights=weights)))
  if failure:
    summary["extrapolation"] = dict(skipped=failure)
  summary["extrapolation"]["conventions"] = conventions
  for run in summary["extrapolation"].get("runs", []):
    run["run_id"] = str(clean.run_id[run["index"]])
  outcome, failure = auxiliary.attempt("rollout", warnings, lambda: _rollout(
      runs, clean.run_id, fit_options, weights, level, seed))
  rollout_result, summary["rollout"] = outcome or (None, dict(skipped=failure))
  summary["rollout"]["conventions"] = conventions
  analysis = Analysis(runs=runs, conventions=conventions, approach3=approach3,
                      approach3_bootstrap=approach3_bootstrap, single_variable=single_variable_fits,
                      approach1=approach1, approach2=approach2, extrapolation=extrapolation,
                      level=level, summary=summary, noise=noise, diagnostics=diagnostics,
                      rollout=rollout_result)
  summary["optimal_allocation"] = dict(
      conventions=conventions, closed_form_assumes="C = 6ND",
      rows=[row for allocation in analysis.allocations_at(table_flops)
            for row in allocation.rows()])
  optimal_loss, failure = auxiliary.attempt("compute-optimal loss", warnings, lambda: (
      _compute_optimal_loss(analysis, table_flops)))
  summary["compute_optimal_loss"] = optimal_loss or dict(skipped=failure,
                                                         conventions=conventions)
  comparison, _ = auxiliary.attempt("convention comparison", warnings, lambda: (
      compare_conventions(clean, options=fit_options, weights=weights,
                          nominal_budgets=nominal_budgets, tolerance_decades=tolerance_decades)))
  summary["convention_comparison"] = comparison or []
  return analysis


def _side_fit(form: forms.Form, inputs: dict[str, np.ndarray], loss: np.ndarray,
              weights: np.ndarray, law_options: dict) -> tuple[fit.FitResult | None, dict]:
  """A law fitted beside Approach 3: (fit, its block); (None, a skipped block) if it fails."""
  outcome, failure = auxiliary.attempt(f"{form.name} fit", law_options["warnings"], lambda: (
      law_fits.fit_law(form, inputs, loss, weights=weights, **law_options)))
  if outcome is None:
    return None, dict(form=form.name, skipped=failure, conventions=law_options["conventions"])
  return outcome[0], outcome[2]


def _approach2(runs: dict[str, np.ndarray], budget: np.ndarray, budgets: dict, *,
               n_resamples: int, level: float, seed: int
               ) -> tuple[isoflop.Approach2Result | None, dict]:
  """(Approach 2, its block), or (None, {'skipped': why}) when the runs are no IsoFLOP sweep;
  `budgets` holds the `nominal` budgets (FLOPs) and `tolerance_decades` of the grouping."""
  try:
    result = isoflop.approach2(runs["n"], runs["d"], runs["c"], runs["loss"], budget=budget,
                               n_resamples=n_resamples, level=level, seed=seed, **budgets)
  except ValueError as error:
    return None, dict(skipped=str(error))
  return result, result.to_json()


def _diagnose(approach3: fit.FitResult, runs: dict[str, np.ndarray], budget: np.ndarray,
              budgets: dict) -> residuals.Diagnostics:
  """Residual diagnostics of the Approach-3 fit, per IsoFLOP budget where runs group into any."""
  labels, flops = isoflop.group_budgets(runs["c"], budget, **budgets)
  return residuals.diagnose(
      approach3.form, approach3.params, dict(n=runs["n"], d=runs["d"]), runs["loss"],
      budgets=np.where(labels >= 0, flops[np.maximum(labels, 0)], np.nan)
      if np.any(labels >= 0) else None)


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


def _compute_optimal_loss(analysis: "Analysis", table_flops: list[float]) -> dict:
  """Approach 3's loss at the compute-optimal point of each budget, with its intervals."""
  flops = np.asarray(table_flops, dtype=np.float64)
  n_opt, d_opt, loss = intervals.optimal_point(analysis.approach3.form,
                                               analysis.approach3.params, flops)
  band = intervals.compute_optimal_interval(analysis.approach3_bootstrap, flops,
                                            level=analysis.level, noise=analysis.noise)
  noise = ("pooled seed sd" if isinstance(analysis.noise, float)
           else "resampled log residuals of the fit")
  return dict(
      form=analysis.approach3.form.name, level=analysis.level, noise=noise,
      conventions=analysis.conventions,
      rows=[dict(flops=float(c), n_opt=float(n), d_opt=float(d), loss=float(value),
                 run_low=float(lo), run_high=float(hi), mean_low=float(plo),
                 mean_high=float(phi))
            for c, n, d, value, lo, hi, plo, phi in zip(
                flops, n_opt, d_opt, loss, band.low, band.high, band.parameter_low,
                band.parameter_high)])


def _rollout(runs: dict[str, np.ndarray], run_ids: np.ndarray, options: options_lib.FitOptions,
             weights: np.ndarray, level: float, seed: int
             ) -> tuple[rollout.RolloutResult | None, dict]:
  """(the rollout, its JSON block), or (None, {'skipped': why}) when no threshold fits."""
  try:
    result = rollout.rollout(runs, options, weights=weights, level=level, seed=seed,
                             run_ids=run_ids)
  except ValueError as error:
    return None, dict(skipped=str(error))
  return result, result.to_json()


def compare_conventions(clean: observations_lib.Observations, *,
                        options: options_lib.FitOptions, weights: np.ndarray,
                        nominal_budgets: list[float] | None = None,
                        tolerance_decades: float = 0.05) -> list[dict]:
  """The same runs refitted under every convention pair the data allow (point estimates).

  One row per (N, C) convention: the Approach-3 fit (`options.approach3_form()` by the recipe
  of `analysis.fitting.options`, with `weights` per row of `clean`; L(N, D) depends on the N
  convention only) with its a, b, and Approach 2's a, b. Empty when the data carry one N and no
  exact FLOPs.
  """
  n_conventions = (("non_embedding", "total")
                   if not np.array_equal(clean.n_total, clean.n_non_embedding) else ("total",))
  c_conventions = ("6nd", "exact") if np.all(np.isfinite(clean.flops_exact)) else ("6nd",)
  if len(n_conventions) * len(c_conventions) == 1:
    return []
  rows = []
  for n_convention in n_conventions:
    runs = clean.arrays(n=n_convention)
    fitted = options_lib.fit(options, dict(n=runs["n"], d=runs["d"]), runs["loss"], weights,
                             form=options.approach3_form())
    block = fitted.to_json()
    approach3 = dict(params=fitted.params, objective=fitted.objective,
                     criterion=block["criterion"], bounds=block["bounds"],
                     converged=fitted.converged, **bootstrap.allocation_exponents(fitted.params))
    for c_convention in c_conventions:
      runs = clean.arrays(n=n_convention, c=c_convention)
      try:
        isoflops = isoflop.approach2(runs["n"], runs["d"], runs["c"], runs["loss"],
                                     budget=clean.budget, nominal=nominal_budgets,
                                     tolerance_decades=tolerance_decades, n_resamples=0)
        approach2 = dict(a=isoflops.a, b=isoflops.b, n_budgets=len(isoflops.budgets))
      except ValueError as error:
        approach2 = dict(skipped=str(error))
      rows.append(dict(conventions=dict(n=n_convention, c=c_convention), approach3=approach3,
                       approach2=approach2))
  return rows


def convention_label(conventions: dict[str, str]) -> str:
  """'N non-embedding, C = 6ND' style description of a conventions block."""
  n_text = "N non-embedding" if conventions["n"] == "non_embedding" else "N total"
  c_text = "C = 6ND" if conventions["c"] == "6nd" else "C exact FLOPs"
  return f"{n_text}, {c_text}"


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


def _extrapolation(runs: dict[str, np.ndarray], holdout_flops: float | None, n_resamples: int,
                   level: float, seed: int, summary: dict, *, options: options_lib.FitOptions,
                   weights: np.ndarray) -> extrapolate.ExtrapolationResult | None:
  """The held-out extrapolation of Approach 3 at `holdout_flops` (default
  `extrapolate.default_threshold`), its block written to summary['extrapolation']."""
  threshold = holdout_flops if holdout_flops is not None else extrapolate.default_threshold(
      runs["c"])
  if threshold is None:
    summary["extrapolation"] = dict(
        skipped="fewer than 3 compute budgets; pass --holdout_flops to choose a threshold")
    return None
  try:
    result = extrapolate.extrapolate(
        options, dict(n=runs["n"], d=runs["d"]), runs["loss"], runs["c"], threshold,
        weights=weights, n_resamples=n_resamples, level=level, seed=seed)
  except ValueError as error:
    summary["extrapolation"] = dict(skipped=str(error))
    return None
  summary["extrapolation"] = result.to_json()
  return result
