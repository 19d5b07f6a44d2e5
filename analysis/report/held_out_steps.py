"""The held-out steps of an analysis: the extrapolation check, the rollout (with its
out-of-sample choice of form) and the calibration of Approach 3's intervals by the rollout's
record. Each is `run(data, settings, done) -> Outcome` (`analysis.report.step_types`).
"""
import numpy as np

from analysis.report.step_types import Done, Outcome, Prepared, Settings
from analysis.trust import calibration
from analysis.trust import extrapolate
from analysis.trust import rollout
from analysis.trust import selection


def extrapolation(data: Prepared, settings: Settings, done: Done) -> Outcome:
  """Approach 3 fitted below `settings.holdout_flops` (default
  `extrapolate.default_threshold`) / `settings.holdout_gap`, predicting the runs at or above the
  threshold; each run named by its run_id. With checkpoints, no curve with a held-out row is
  fitted (`extrapolate.extrapolate`'s `curves`)."""
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
        threshold, gap=settings.holdout_gap, weights=data.weights,
        curves=data.clean.trunk_id if settings.checkpoints else None,
        **settings.resampling())
  except ValueError as error:
    return Outcome(None, data.skipped(str(error)))
  block = dict(result.to_json(), conventions=data.conventions)
  block["runs"] = [dict(run, run_id=str(data.clean.run_id[run["index"]]))
                   for run in block["runs"]]
  return Outcome(result, block)


def rollout_record(data: Prepared, settings: Settings, done: Done) -> Outcome:
  """The rollout of `fit_options.rollout_forms`, skipped with the reason when no threshold fits."""
  try:
    result = rollout.rollout(data.runs, settings.fit_options, weights=data.weights,
                             level=settings.level, seed=settings.seed,
                             run_ids=data.clean.run_id,
                             curves=data.clean.trunk_id if settings.checkpoints else None,
                             groups=data.clean.bootstrap_blocks())
  except ValueError as error:
    return Outcome(None, data.skipped(str(error)))
  baseline = rollout.label(settings.fit_options.approach3_form(), settings.fit_options.objective)
  chosen = selection.select(result, baseline if baseline in result.labels()
                            else result.labels()[0])
  return Outcome(result, dict(result.to_json(), selection=chosen.summary(),
                              conventions=data.conventions), _refit_failures(result))


def _refit_failures(result: rollout.RolloutResult) -> list[str]:
  """One warning per form whose rollout bootstraps lost refits: how many of how many, over how
  many fits, and the worst threshold (its intervals rest on fewer refits)."""
  lines = []
  for label in result.labels():
    fits = [fit for fit in result.fits if fit["label"] == label and fit.get("n_failed")]
    if not fits:
      continue
    drawn = {id(fit): fit["n_failed"] + fit["n_refits"] for fit in fits}  # n_refits: converged
    worst = max(fits, key=lambda fit: fit["n_failed"] / drawn[id(fit)])
    lines.append(
        f"rollout: {label}: {sum(fit['n_failed'] for fit in fits)} of {sum(drawn.values())} "
        f"bootstrap refits did not converge, in {len(fits)} of its fits; at most "
        f"{worst['n_failed']} of {drawn[id(worst)]} (threshold {worst['threshold']:.3g}); those "
        "intervals rest on the refits that converged")
  return lines


def calibration_record(data: Prepared, settings: Settings, done: Done) -> Outcome:
  """The Approach-3 law's calibration by its rollout record (`analysis.trust.calibration`), with
  how the calibration did out of sample on the rollout itself (each threshold calibrated by the
  record below it), skipped with the reason when the rollout gave no record of that law."""
  result = done["rollout"].result
  if result is None:
    return Outcome(None, data.skipped(f"no rollout ({done['rollout'].block.get('skipped')})"))
  options = settings.fit_options
  name = rollout.label(options.approach3_form(), options.objective)
  if name not in result.labels():
    return Outcome(None, data.skipped(
        f"the rollout does not compare Approach 3's law ({name}); add "
        f"{options.approach3_form().name} to --rollout_forms"))
  found = calibration.calibrate([row for row in result.rows if row["label"] == name],
                                result.level)
  checked = [row for row in calibration.out_of_sample(result, name) if row["n_record"]]
  out_of_sample = dict(n=len(checked), bootstrap_coverage=float(np.mean(
      [row["covered"] for row in checked])) if checked else None,
      calibrated_coverage=float(np.mean([row["calibrated_covered"] for row in checked]))
      if checked else None)
  held_out = _calibrated_held_out(result, name, done["extrapolation"].result
                                  if "extrapolation" in done else None, data)
  return Outcome(found, dict(found.to_json(), label=name, split_by=result.split_by,
                             out_of_sample=out_of_sample, held_out=held_out,
                             conventions=data.conventions))


def _calibrated_held_out(result: rollout.RolloutResult, name: str,
                         extrapolated: extrapolate.ExtrapolationResult | None,
                         data: Prepared) -> dict:
  """The held-out extrapolation's runs with the intervals calibrated by the record a user
  holding only its training runs has: the rollout rows below its training cutoff (threshold /
  gap), at the distance log10(C / largest training C) of each run (nats/token)."""
  if extrapolated is None:
    return dict(skipped="no held-out extrapolation")
  if result.split_by != "c":
    return dict(skipped="the rollout splits by N; the held-out runs are split by C")
  cutoff = extrapolated.threshold_flops / extrapolated.gap
  found = calibration.calibrate(
      [row for row in result.record_below(cutoff) if row["label"] == name], extrapolated.level)
  index = extrapolated.heldout_index
  distance = np.log10(data.runs["c"][index] / extrapolated.train_max_flops)
  point, low, high = found.interval(extrapolated.predicted, extrapolated.prediction_interval[0],
                                    extrapolated.prediction_interval[1], distance)
  covered = (low <= extrapolated.actual) & (extrapolated.actual <= high)
  error = (point - extrapolated.actual) / extrapolated.actual
  return dict(n_record=found.n_record, description=found.describe(), level=found.level,
              coverage=float(np.mean(covered)),
              mean_abs_relative_error=float(np.mean(np.abs(error))),
              runs=[dict(run_id=str(data.clean.run_id[i]), distance=float(x), predicted=float(p),
                         low=float(lo), high=float(hi), covered=bool(c))
                    for i, x, p, lo, hi, c in zip(index, distance, point, low, high, covered)])
