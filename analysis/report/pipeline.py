"""Runs every analysis of one set of observations under one pair of conventions.

`analyse` prepares the runs once (`prepare`) and runs the named steps of `steps.STEPS` in order
(`run`). Approach 3 on all runs is the analysis, and so are the steps that only assemble
numbers: their failure is the analysis's. Every other step is a side step: one that fails
(`analysis.report.auxiliary`) is recorded as {'skipped': 'failed (...)'} with a warning instead
of failing the analysis, and one that cannot run on the given data as {'skipped': reason}. The
summary, what fits.json holds, is the data's description (`description`) followed by every
step's block under the step's name, in step order; the fitted objects go to the figures.
"""
import dataclasses
import functools
from typing import Any

import numpy as np

from analysis.approaches import envelope
from analysis.approaches import isoflop
from analysis.approaches import optimal
from analysis.fitting import bootstrap
from analysis.fitting import fit
from analysis.report import auxiliary
from analysis.report import steps as steps_lib
from analysis.report import step_types
from analysis.table import observations as observations_lib
from analysis.table import seeds
from analysis.trust import extrapolate
from analysis.trust import intervals
from analysis.trust import known_floor
from analysis.trust import residuals
from analysis.trust import rollout


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
  run_ids: tuple[str, ...] = ()  # of the points in `runs` (seeds.RUN_ID_SEPARATOR joins seeds)

  def allocations_at(self, flops: np.ndarray) -> list[optimal.Allocation]:
    """N_opt, D_opt at `flops` (FLOPs) from each approach fitted here, then from the
    published laws (`steps.allocations`)."""
    return steps_lib.allocations(
        self.approach3, self.approach3_bootstrap, self.approach1, self.approach2, flops,
        identifiable=self.summary["approach3"]["identifiable"], level=self.level,
        conventions=self.conventions)


def analyse(observations: observations_lib.Observations, *,
            n_convention: str = "non_embedding", c_convention: str = "6nd",
            **settings: Any) -> Analysis:
  """Cleans the runs, fits Approaches 1-3 and single-variable laws, allocates, extrapolates.

  `settings` are the fields of `step_types.Settings` (n_resamples, level, holdout_flops,
  holdout_gap, nominal_budgets, tolerance_decades, parabola_window, table_flops, kaplan,
  single_variable, seed, fit_options). Runs that differ only in seed are averaged first (`analysis.table.seeds`);
  their spread is the noise of the prediction intervals when there is any, else the Approach-3
  fit's residuals are. Every parametric law is fitted by the recipe of `analysis.fitting.options`
  under `fit_options`, as are the extrapolation, the rollout and the convention comparison;
  bootstrapped with `n_resamples` full refits and assessed for identifiability; `kaplan` adds
  Kaplan et al.'s L(N, D) (Eq. 1.5), and `single_variable` the laws L(N), L(D), L(C) on the
  lower envelopes of the final losses (each law costs one compilation of the fit and one of the
  bootstrap). The rollout compares `fit_options.rollout_forms` on held-out runs. Degenerate fits
  are reported as not identifiable; a side step that fails is skipped with a warning. Raises
  ValueError as `prepare` does.
  """
  options = step_types.Settings(**settings)
  data = prepare(observations, options, n_convention=n_convention, c_convention=c_convention)
  done, warnings = run(steps_lib.STEPS, data, options)
  summary = dict(description(data, options), warnings=warnings,
                 **{name: outcome.block for name, outcome in done.items()})
  approach3 = done["approach3"].result
  return Analysis(runs=data.runs, conventions=data.conventions, approach3=approach3.fitted,
                  approach3_bootstrap=approach3.resampled,
                  single_variable=done["single_variable"].result,
                  approach1=done["approach1"].result, approach2=done["approach2"].result,
                  extrapolation=done["extrapolation"].result, level=options.level,
                  summary=summary, noise=approach3.noise,
                  diagnostics=done["residual_diagnostics"].result,
                  rollout=done["rollout"].result, run_ids=tuple(data.clean.run_id))


def prepare(observations: observations_lib.Observations, settings: step_types.Settings, *,
            n_convention: str, c_convention: str) -> step_types.Prepared:
  """The cleaned, seed-averaged runs under the conventions, with their weights.

  Raises ValueError for a `level` outside (0, 1), a `holdout_gap` below 1, a `holdout_flops`
  that is not positive, a law that is not Approach 3's, or no more usable runs than the
  Approach-3 law has parameters.
  """
  if not 0 < settings.level < 1:
    raise ValueError(f"level={settings.level}: must be in (0, 1), e.g. 0.95")
  if not settings.holdout_gap >= 1:
    raise ValueError(f"holdout_gap={settings.holdout_gap}: use a factor >= 1 between the "
                     "largest training compute and the held-out runs, e.g. 4")
  if settings.holdout_flops is not None and not settings.holdout_flops > 0:
    raise ValueError(f"holdout_flops={settings.holdout_flops}: use a positive compute (FLOPs), "
                     "or leave it unset for the default threshold")
  law = settings.fit_options.approach3_form()
  clean, warnings = observations.clean()
  groups = seeds.aggregate(clean)
  if len(groups.observations) < len(clean):
    warnings.append(f"averaged {len(clean)} runs into {len(groups.observations)} points over "
                    f"repeated seeds (pooled seed sd of log loss {groups.pooled_log_sd:.3g})")
  clean = groups.observations
  runs = clean.arrays(n=n_convention, c=c_convention)
  n_params = len(law.param_names)
  if len(clean) <= n_params:
    raise ValueError(f"{len(clean)} usable runs after cleaning; the L(N, D) fit needs more "
                     f"than {n_params} (see the warnings: {warnings})")
  try:
    floor = known_floor.common_floor(observations.loss_floor)
  except ValueError as error:
    floor = None
    warnings.append(f"no known floor beside E: {error}")
  return step_types.Prepared(
      source=observations.source, n_runs=len(observations), clean=clean, groups=groups,
      runs=runs, conventions=dict(n=n_convention, c=c_convention),
      weights=settings.fit_options.weights(flops=runs["c"], groups=groups),
      warnings=tuple(warnings), known_floor=floor)


def branching(clean: observations_lib.Observations) -> dict[str, Any] | None:
  """How many points came from how many WSD trunks, and the compute the sweep spent on them
  against training every point from scratch (FLOPs, exact); None without trunks."""
  from_trunks = clean.trunk_id != ""
  if not np.any(from_trunks):
    return None
  trunks = {trunk for joined in clean.trunk_id[from_trunks] for trunk in joined.split("+")}
  spent, represented = np.nansum(clean.flops_spent), np.nansum(clean.flops_exact)
  return dict(points=int(from_trunks.sum()), trunks=len(trunks), flops_spent=float(spent),
              flops_from_scratch=float(represented),
              ratio=float(spent / represented) if represented > 0 else None)


def description(data: step_types.Prepared, settings: step_types.Settings) -> dict[str, Any]:
  """The summary's head: the conventions, the data's source, counts and seeds per point (and,
  for checkpoints, how many curves they come from), and the fit options."""
  described = dict(source=data.source, n_runs=data.n_runs, n_used=len(data.clean),
                   one_parameter_count=bool(np.array_equal(data.clean.n_total,
                                                           data.clean.n_non_embedding)),
                   seeds_per_point=dict(max=int(data.groups.n_seeds.max()),
                                        pooled_log_sd=data.groups.pooled_log_sd),
                   branching=None if settings.checkpoints else branching(data.clean))
  if settings.checkpoints:
    described["checkpoints"] = dict(points=len(data.clean),
                                    curves=len(set(data.clean.trunk_id.tolist())))
  return dict(conventions=data.conventions, data=described,
              fit_options=settings.fit_options.to_json())


def run(steps: tuple[step_types.Step, ...], data: step_types.Prepared,
        settings: step_types.Settings) -> tuple[dict[str, step_types.Outcome], list[str]]:
  """Runs the enabled `steps` in order: ({name: outcome}, every warning line in order, those of
  `data` first). A side step that raises gets its `on_failure` block and one warning line."""
  done, warnings = {}, list(data.warnings)
  for step in steps:
    if not step.enabled(settings):
      continue
    compute = functools.partial(step.run, data, settings, done)
    if step.label is None:
      outcome = compute()
    else:
      outcome, failure = auxiliary.attempt(step.label, warnings, compute)
      if outcome is None:
        outcome = step_types.Outcome(None, step.on_failure(failure, data))
    warnings.extend(outcome.warnings)
    done[step.name] = outcome
  return done, warnings
