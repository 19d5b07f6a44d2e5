"""Runs every analysis of one set of observations under one pair of conventions.

Produces the fitted objects (for plots) and a JSON-able summary (for fits.json and the report).
Each block of the summary names its conventions; steps that cannot run on the given data are
recorded as {'skipped': reason} rather than failing the whole analysis.
"""
import dataclasses
import pathlib

import numpy as np

from analysis import bootstrap
from analysis import envelope
from analysis import extrapolate
from analysis import fit
from analysis import forms
from analysis import isoflop
from analysis import observations as observations_lib
from analysis import optimal
from analysis import published

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

  def allocations_at(self, flops: np.ndarray) -> list[optimal.Allocation]:
    """N_opt, D_opt at `flops` from each approach fitted here, then from the published laws."""
    flops = np.asarray(flops, dtype=np.float64)
    label = convention_label(self.conventions)
    allocations = [optimal.from_chinchilla(
        self.approach3.params, flops, source="Approach 3 (this fit)", convention=label,
        samples=self.approach3_bootstrap.samples, level=self.level)]
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
            single_variable: bool = True, seed: int = 0) -> Analysis:
  """Cleans the runs, fits Approaches 1-3 and single-variable laws, allocates, extrapolates.

  Every parametric law is fitted with `fit.fit` and bootstrapped with `n_resamples` full
  refits; `kaplan` adds Kaplan et al.'s L(N, D) (Eq. 1.5) fitted to the same runs, and
  `single_variable` the laws L(N), L(D), L(C) on the lower envelopes of the final losses (each
  law costs one compilation of the fit and one of the bootstrap).
  """
  if not 0 < level < 1:
    raise ValueError(f"level={level}: must be in (0, 1), e.g. 0.95")
  clean, warnings = observations.clean()
  runs = clean.arrays(n=n_convention, c=c_convention)
  conventions = dict(n=n_convention, c=c_convention)
  n_params = len(forms.CHINCHILLA.param_names)
  if len(clean) <= n_params:
    raise ValueError(f"{len(clean)} usable runs after cleaning; the L(N, D) fit needs more "
                     f"than {n_params} (see the warnings: {warnings})")
  summary = dict(
      conventions=conventions,
      data=dict(source=observations.source, n_runs=len(observations), n_used=len(clean),
                one_parameter_count=bool(np.array_equal(clean.n_total, clean.n_non_embedding))),
      warnings=warnings)

  inputs = dict(n=runs["n"], d=runs["d"])
  fit_options = dict(n_resamples=n_resamples, level=level, seed=seed,
                     conventions=conventions, warnings=warnings)
  approach3, approach3_bootstrap, summary["approach3"] = fit_law(
      forms.CHINCHILLA, inputs, runs["loss"], **fit_options)
  if kaplan:
    summary["kaplan_nd"] = fit_law(forms.KAPLAN_ND, inputs, runs["loss"], **fit_options)[2]
  single_variable_fits, summary["single_variable"] = {}, {}
  for variable, form in _SINGLE_VARIABLE_FORMS.items() if single_variable else ():
    frontier = envelope.lower_envelope(runs[variable], runs["loss"])
    fitted, _, summary["single_variable"][variable] = fit_law(
        form, {variable: runs[variable][frontier]}, runs["loss"][frontier], **fit_options)
    summary["single_variable"][variable]["fitted_on"] = (
        f"the {len(frontier)} runs on the lower envelope of final loss against {variable}")
    if fitted is not None:
      single_variable_fits[variable] = fitted

  approach1, skip_reason = approach1_from_curves(clean, runs, n_resamples=n_resamples,
                                                 level=level, seed=seed)
  summary["approach1"] = dict(
      approach1.to_json() if approach1 else dict(skipped=skip_reason), conventions=conventions)
  if approach1:
    warnings.extend(approach1.warnings)
  try:
    approach2 = isoflop.approach2(
        runs["n"], runs["d"], runs["c"], runs["loss"], budget=clean.budget,
        nominal=nominal_budgets, tolerance_decades=tolerance_decades,
        n_resamples=n_resamples, level=level, seed=seed)
    summary["approach2"] = dict(approach2.to_json(), conventions=conventions)
    warnings.extend(approach2.warnings)
  except ValueError as error:
    approach2 = None
    summary["approach2"] = dict(skipped=str(error), conventions=conventions)

  if table_flops is None:
    top = float(np.max(runs["c"]))
    table_flops = [float(f"{top * 10 ** k:.1g}") for k in range(4)]
  summary["published"] = {key: law.to_json() for key, law in published.LAWS.items()}
  extrapolation = _extrapolation(runs, holdout_flops, n_resamples, level, seed, summary)
  summary["extrapolation"]["conventions"] = conventions
  for run in summary["extrapolation"].get("runs", []):
    run["run_id"] = str(clean.run_id[run["index"]])
  analysis = Analysis(runs=runs, conventions=conventions, approach3=approach3,
                      approach3_bootstrap=approach3_bootstrap, single_variable=single_variable_fits,
                      approach1=approach1, approach2=approach2, extrapolation=extrapolation,
                      level=level, summary=summary)
  summary["optimal_allocation"] = dict(
      conventions=conventions, closed_form_assumes="C = 6ND",
      rows=[row for allocation in analysis.allocations_at(table_flops)
            for row in allocation.rows()])
  summary["convention_comparison"] = compare_conventions(
      clean, nominal_budgets=nominal_budgets, tolerance_decades=tolerance_decades)
  return analysis


def compare_conventions(clean: observations_lib.Observations, *,
                        nominal_budgets: list[float] | None = None,
                        tolerance_decades: float = 0.05) -> list[dict]:
  """The same runs refitted under every convention pair the data allow (point estimates).

  One row per (N, C) convention: the Approach-3 parameters and a, b (L(N, D) depends on the N
  convention only) and Approach 2's a, b. Empty when the data carry one N and no exact FLOPs.
  """
  n_conventions = (("non_embedding", "total")
                   if not np.array_equal(clean.n_total, clean.n_non_embedding) else ("total",))
  c_conventions = ("6nd", "exact") if np.all(np.isfinite(clean.flops_exact)) else ("6nd",)
  if len(n_conventions) * len(c_conventions) == 1:
    return []
  rows = []
  for n_convention in n_conventions:
    runs = clean.arrays(n=n_convention)
    fitted = fit.fit(forms.CHINCHILLA, dict(n=runs["n"], d=runs["d"]), runs["loss"])
    approach3 = dict(params=fitted.params, objective=fitted.objective,
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


def fit_law(form: forms.Form, inputs: dict[str, np.ndarray], loss: np.ndarray, *,
            n_resamples: int, level: float, seed: int, conventions: dict[str, str],
            warnings: list[str]
            ) -> tuple[fit.FitResult | None, bootstrap.BootstrapResult | None, dict]:
  """Fit and bootstrap of one law: (fit, bootstrap, JSON block naming the conventions).

  With no more runs than parameters nothing is fitted: (None, None, a block with the reason),
  and the reason is appended to `warnings`, as are the fit's own warnings.
  """
  if len(loss) <= len(form.param_names):
    note = (f"{len(loss)} runs; {form.formula} needs more than {len(form.param_names)}")
    warnings.append(f"{form.name}: skipped, {note}")
    return None, None, dict(form=form.name, skipped=note, conventions=conventions)
  fitted = fit.fit(form, inputs, loss)
  resampled = bootstrap.bootstrap(form, inputs, loss, n_resamples=n_resamples, level=level,
                                  seed=seed)
  warnings.extend(fitted.warnings)
  vanished = [p.name for p in form.parameters if p.log_scale and not fitted.params[p.name] > 1e-12]
  if vanished:
    warnings.append(f"{form.name}: {', '.join(vanished)} fitted to ~0: the law is degenerate "
                    "on these runs (not identifiable); widen the grid of sizes and tokens")
  if resampled.n_failed:
    warnings.append(f"{form.name}: {resampled.n_failed} of {resampled.n_resamples} bootstrap "
                    "refits did not converge and are left out of the intervals")
  block = dict(fitted.to_json())
  block.update(ci={name: list(map(float, interval)) for name, interval in resampled.ci.items()},
               level=resampled.level, n_resamples=resampled.n_resamples,
               n_failed=resampled.n_failed, conventions=conventions)
  if {"alpha", "beta"} <= set(fitted.params):
    block.update(bootstrap.allocation_exponents(fitted.params))
  return fitted, resampled, block


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


def _extrapolation(runs, holdout_flops, n_resamples, level, seed, summary):
  threshold = holdout_flops if holdout_flops is not None else extrapolate.default_threshold(
      runs["c"])
  if threshold is None:
    summary["extrapolation"] = dict(
        skipped="fewer than 3 compute budgets; pass --holdout_flops to choose a threshold")
    return None
  try:
    result = extrapolate.extrapolate(
        forms.CHINCHILLA, dict(n=runs["n"], d=runs["d"]), runs["loss"], runs["c"], threshold,
        n_resamples=n_resamples, level=level, seed=seed)
  except ValueError as error:
    summary["extrapolation"] = dict(skipped=str(error))
    return None
  summary["extrapolation"] = result.to_json()
  return result
