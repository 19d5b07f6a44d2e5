"""Rollout: held-out evaluation of forms x objectives as model selection.

At each threshold of a split variable (compute C in FLOPs or parameters N), every form is fitted
with every objective on the runs below the threshold and predicts every run at or above it. Every
fit is the recipe of `analysis.fitting.options` under the analysis's FitOptions (bounds, weights,
objective delta), so the rollout's 'chinchilla/huber' is the report's Approach-3 fit restricted to
the training runs. A prediction carries its distance of extrapolation, log10(C_run / largest C of
the training runs) in decades, its distance in the split variable, log10(X_run / largest X of
the training runs) for X = C or N (`split_distance`, decades, > 0 for every held-out run), its
relative error (predicted - actual) / actual, and whether the new-run prediction interval of
`analysis.trust.intervals` at `level` covers the actual loss (nats/token).

`RolloutResult.record_below(t)` is the record a user holding only the runs below a threshold t
would have: the predictions made at thresholds below t of runs that are themselves below t. The
calibration (`analysis.trust.calibration`) and the choice among forms
(`analysis.trust.selection`) read only that record when they are scored at t, so neither sees
the runs it is scored on.

The form x objective with the lowest mean |log(predicted / actual)| over all its held-out
predictions, each threshold weighted equally, is recommended, with how often it wins a
threshold and a paired Wilcoxon test of its |log errors| against the runner-up's.

Speed: each bootstrap refit starts from the full fit's polished survivors
(`fit_options.resample(..., warm_start=True)`) instead of the form's whole start grid; the tests
check that this reaches the optimum the full grid reaches on a well-posed grid. Where the data
barely identify a parameter, a resample's best fit can lie in another basin that only the full grid
finds (on Gadre et al.'s c4 runs below 1e9 parameters, 7 of 100 resamples had E -> 0 from the full
grid but not from the warm starts), so warm-started intervals can be narrower there;
`warm_start=False` refits from the full grid. Refits run one at a time (`batch_size=1`): vectorising
resamples runs every resample's search to the slowest one's length and was measured slower here
(0.9 s against 0.5 s for 100 warm refits).
"""
from collections.abc import Mapping, Sequence
import dataclasses
from typing import Any

import numpy as np
import scipy.stats

from analysis.laws import forms as forms_lib
from analysis.table import checkpoints
from analysis.trust import identifiability
from analysis.trust import intervals
from analysis.fitting import objectives as objectives_lib
from analysis.fitting import options as fit_options

# Edges (decades of extrapolation in C) of the bins of `RolloutResult.table`.
DISTANCE_BINS = (0.5, 1.0, 2.0)
SPLIT_VARIABLES = ("c", "n")
# Default thresholds leave at least this many distinct values of N and of D to fit on: a law in
# N and D cannot be fitted on runs of one or two sizes or token counts.
MIN_DISTINCT = 3
# Values of the split variable within this many decades of each other form one level (the runs
# of one IsoFLOP budget differ by the rounding of their token counts): one threshold per level.
LEVEL_TOLERANCE_DECADES = 0.05


def label(form: forms_lib.Form, objective: objectives_lib.Objective) -> str:
  """'form/objective kind', e.g. 'chinchilla/huber'."""
  return f"{form.name}/{objective.kind}"


def _bin_names() -> list[str]:
  edges = (None,) + DISTANCE_BINS + (None,)
  return [f"< {high:g}" if low is None else f"> {low:g}" if high is None else f"{low:g}-{high:g}"
          for low, high in zip(edges[:-1], edges[1:])]


@dataclasses.dataclass
class RolloutResult:
  """Held-out predictions of every form x objective at every threshold.

  Attributes:
    rows: one dict per prediction: label, form, objective, threshold, run, n (parameters),
      d (tokens), c (FLOPs), distance and split_distance (decades), actual, predicted
      (nats/token), relative_error, low, high (new-run interval), covered.
    fits: one dict per fit: label, threshold, n_train, params, converged, bootstrap refits.
    split_by: 'c' or 'n'.
    thresholds: the thresholds, ascending, in the split variable's units.
    level: coverage of the prediction intervals.
  """
  rows: list[dict[str, Any]]
  fits: list[dict[str, Any]]
  split_by: str
  thresholds: list[float]
  level: float

  def labels(self) -> list[str]:
    return list(dict.fromkeys(row["label"] for row in self.rows))

  def _column(self, name: str, label_: str, threshold: float | None = None) -> np.ndarray:
    return np.array([row[name] for row in self.rows if row["label"] == label_
                     and (threshold is None or row["threshold"] == threshold)], np.float64)

  def _log_errors(self, label_: str, threshold: float | None = None) -> np.ndarray:
    """|log(predicted / actual)| per prediction; inf where a failed fit predicted nothing."""
    with np.errstate(invalid="ignore", divide="ignore"):
      errors = np.abs(np.log(self._column("predicted", label_, threshold)
                             / self._column("actual", label_, threshold)))
    return np.where(np.isfinite(errors), errors, np.inf)

  def scores(self) -> dict[str, float]:
    """Mean over thresholds of the mean |log(predicted / actual)| per threshold, per label."""
    return {label_: float(np.mean([np.mean(self._log_errors(label_, t))
                                   for t in self.thresholds])) for label_ in self.labels()}

  def table(self) -> list[dict[str, Any]]:
    """Per form x objective: mean |relative error| per distance bin, coverage, final split."""
    names = _bin_names()
    edges = np.array(DISTANCE_BINS)
    final = self.thresholds[-1]
    scores = self.scores()
    summary = []
    for label_ in self.labels():
      errors = np.abs(self._column("relative_error", label_))
      bins = np.searchsorted(edges, self._column("distance", label_), side="right")
      by_distance = {name: dict(n=int(np.sum(bins == i)),
                                mean_abs_relative_error=float(np.mean(errors[bins == i]))
                                if np.any(bins == i) else None)
                     for i, name in enumerate(names)}
      summary.append(dict(
          label=label_, mean_abs_relative_error=float(np.mean(errors)),
          mean_abs_log_error=scores[label_], by_distance=by_distance,
          coverage=float(np.mean(self._column("covered", label_))), n_predictions=errors.size,
          final_split=[row for row in self.rows
                       if row["label"] == label_ and row["threshold"] == final]))
    return summary

  def recommend(self) -> dict[str, Any]:
    """The best form x objective on held-out runs and how confident that choice is."""
    scores = self.scores()
    ranked = sorted(scores, key=scores.get)
    best = ranked[0]
    wins = sum(
        min(scores, key=lambda label_, t=t: np.mean(self._log_errors(label_, t))) == best
        for t in self.thresholds)
    result = dict(best=best, scores=scores, wins=int(wins), n_thresholds=len(self.thresholds))
    statement = f"{best}: best at {wins} of {len(self.thresholds)} thresholds"
    if len(ranked) > 1:
      runner_up = ranked[1]
      ours, theirs = self._log_errors(best), self._log_errors(runner_up)
      if np.all(ours == theirs):
        p_value = 1.0
      else:
        p_value = float(scipy.stats.wilcoxon(ours, theirs).pvalue)
      result.update(runner_up=runner_up, p_value=p_value, n_pairs=int(ours.size))
      statement += (f"; paired Wilcoxon p = {p_value:.2g} against {runner_up} "
                    f"(mean |log error| {scores[best]:.4f} vs {scores[runner_up]:.4f}, "
                    f"{ours.size} held-out predictions)")
    result["statement"] = statement
    return result

  def record_below(self, threshold: float) -> list[dict[str, Any]]:
    """The rows a user holding only the runs with split value < `threshold` could compute:
    those of thresholds below it whose run is itself below it (the same units as
    `thresholds`)."""
    return [row for row in self.rows
            if row["threshold"] < threshold and row[self.split_by] < threshold]

  def to_json(self) -> dict[str, Any]:
    return dict(split_by=self.split_by, thresholds=self.thresholds, level=self.level,
                table=self.table(), recommendation=self.recommend(), fits=self.fits,
                rows=self.rows)


def default_thresholds(runs: Mapping[str, np.ndarray], split_by: str, min_train: int,
                       min_distinct: int = MIN_DISTINCT) -> list[float]:
  """The levels of the split variable (ascending) that leave enough runs to fit below them.

  Values within LEVEL_TOLERANCE_DECADES of their neighbours form one level, whose threshold is
  its smallest value. A level qualifies when at least `min_train` runs lie below it, with at
  least `min_distinct` distinct N and D among them (1% apart, `identifiability.distinct_count`).
  Each threshold holds out the runs at or above it.
  """
  split = np.asarray(runs[split_by], np.float64)
  values = np.sort(np.unique(split))
  starts = np.concatenate([[True], np.diff(np.log10(values)) > LEVEL_TOLERANCE_DECADES])
  thresholds = []
  for threshold in values[starts]:
    train = split < threshold
    if (train.sum() >= min_train
        and identifiability.distinct_count(runs["n"][train]) >= min_distinct
        and identifiability.distinct_count(runs["d"][train]) >= min_distinct):
      thresholds.append(float(threshold))
  return thresholds


def _check_runs(runs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
  missing = {"n", "d", "c", "loss"} - set(runs)
  if missing:
    raise ValueError(f"runs: missing {sorted(missing)}; pass n (parameters), d (tokens), "
                     "c (FLOPs) and loss (nats/token) arrays")
  names = ("n", "d", "c", "loss") + (("u",) if runs.get("u") is not None else ())
  arrays = {k: np.asarray(runs[k], np.float64).reshape(-1) for k in names}
  if len({v.size for v in arrays.values()}) > 1:
    raise ValueError(f"runs: arrays differ in length { {k: v.size for k, v in arrays.items()} }")
  for name, values in arrays.items():
    if not np.all(np.isfinite(values) & (values > 0)):
      raise ValueError(f"runs: '{name}' has non-finite or non-positive values; drop those runs")
  return arrays


def rollout(runs: Mapping[str, np.ndarray],
            options: fit_options.FitOptions = fit_options.FitOptions(), *,
            weights: np.ndarray | None = None, level: float = 0.9, seed: int = 0,
            run_ids: Sequence[str] | None = None, warm_start: bool = True,
            curves: np.ndarray | None = None, groups: np.ndarray | None = None
            ) -> RolloutResult:
  """Fits every form x objective below each threshold and predicts the runs at or above it.

  Args:
    runs: n (parameters), d (tokens), c (FLOPs) and loss (nats/token), one value per run;
      optionally u (unique tokens, for forms of repeated data such as `data_constrained`).
    options: what is compared and how each is fitted. Every one of
      `options.rollout_candidates()` (a form of `rollout_forms` with an objective kind of
      `rollout_objectives`) is fitted by the recipe of `analysis.fitting.options` (the bounds
      of `options.bounded` on the training runs, `weights`), split by `rollout_split` at
      `rollout_thresholds` (default `default_thresholds` with at least (most free parameters
      + 3) runs to fit), with `rollout_resamples` bootstrap refits per fit for the intervals.
    weights: observation weight per run; default `options.weights(flops=runs["c"])`.
    level: coverage of the prediction intervals, in (0, 1).
    seed: seed of the resampling and of the noise draws.
    run_ids: a name per run for the rows; defaults to the run's index.
    warm_start: start bootstrap refits from the fit's survivors (fast) instead of the form's
      whole start grid (see the module docstring).
    curves: optional label per run naming the training curve it is a checkpoint of
      (`analysis.table.checkpoints`): all points of a curve fall on the side of each threshold
      where its last point (largest D) falls, and only last points are predicted, so that no
      held-out run is fitted on through its own early checkpoints.
    groups: optional label per run; each bootstrap refit resamples whole groups (a block
      bootstrap, e.g. by `Observations.bootstrap_blocks`: the points of one curve or trunk).

  Returns:
    RolloutResult with one row per (form, objective, threshold, held-out run).
  """
  arrays = _check_runs(runs)
  split_by = options.rollout_split
  if split_by not in SPLIT_VARIABLES:
    raise ValueError(f"rollout_split={split_by!r} must be one of {SPLIT_VARIABLES}")
  candidates = options.rollout_candidates()
  if not candidates:
    raise ValueError("rollout: pass at least one form and one objective (rollout_forms, "
                     "rollout_objectives)")
  labels = [label(c.form(), c.objective) for c in candidates]
  if len(set(labels)) != len(labels):
    raise ValueError(f"rollout: form x objective labels repeat ({labels}); pass distinct ones")
  n_runs = arrays["loss"].size
  run_ids = [str(i) for i in range(n_runs)] if run_ids is None else [str(r) for r in run_ids]
  if len(run_ids) != n_runs:
    raise ValueError(f"run_ids has {len(run_ids)} names for {n_runs} runs")
  weights = options.weights(flops=arrays["c"]) if weights is None else np.asarray(
      weights, np.float64)
  if weights.shape != (n_runs,):
    raise ValueError(f"weights has shape {weights.shape}; pass one weight per run ({n_runs})")
  split, targets = arrays[split_by], np.ones(n_runs, dtype=bool)
  if curves is not None:
    split, targets = checkpoints.curve_split(split, arrays["d"], curves)
  min_train = max(len(c.form().parameters) for c in candidates) + 3
  thresholds = options.rollout_thresholds
  if thresholds is None:
    thresholds = default_thresholds(dict(arrays, **{split_by: split}), split_by, min_train)
    if not thresholds:
      raise ValueError(f"rollout: no threshold of {split_by} leaves {min_train} runs to fit; "
                       "add runs or use fewer parameters")
  thresholds = sorted(float(t) for t in thresholds)
  for t in thresholds:
    if np.sum(split < t) < min_train or not np.any((split >= t) & targets):
      raise ValueError(f"rollout_thresholds: {split_by}={t:.3g} leaves "
                       f"{int(np.sum(split < t))} runs to fit (need {min_train}) and "
                       f"{int(np.sum(split >= t))} to predict")
  rows, fits = [], []
  for candidate in candidates:
    for threshold in thresholds:
      new_rows, fit_summary = _evaluate(candidate, arrays, weights, split < threshold, level,
                                        seed, run_ids, warm_start, targets, groups)
      fit_summary.update(threshold=threshold)
      fits.append(fit_summary)
      rows.extend(dict(row, threshold=threshold) for row in new_rows)
  return RolloutResult(rows=rows, fits=fits, split_by=split_by, thresholds=thresholds,
                       level=level)


def _evaluate(candidate: fit_options.FitOptions, arrays: dict[str, np.ndarray],
              weights: np.ndarray, train: np.ndarray, level: float, seed: int,
              run_ids: list[str], warm_start: bool, targets: np.ndarray,
              groups: np.ndarray | None) -> tuple[list[dict], dict]:
  """Fit `candidate` on `train`, bootstrap (by `groups`), predict the `targets` among the
  rest: (rows, fit summary)."""
  form, objective = candidate.form(), candidate.objective
  inputs = forms_lib.inputs_for(form, n=arrays["n"], d=arrays["d"], c=arrays["c"],
                                u=arrays.get("u"))
  loss = arrays["loss"]
  heldout = np.flatnonzero(~train & targets)
  fitted = fit_options.fit(candidate, inputs, loss, weights, train=train)
  train_inputs = {k: v[train] for k, v in inputs.items()}
  heldout_inputs = {k: v[heldout] for k, v in inputs.items()}
  resampled = fit_options.resample(fitted, inputs, loss, weights, train=train,
                                   n_resamples=candidate.rollout_resamples, level=level,
                                   seed=seed, warm_start=warm_start, groups=groups)
  with np.errstate(invalid="ignore", divide="ignore"):
    log_residuals = (np.log(intervals.predict(form, fitted.params, train_inputs))
                     - np.log(loss[train]))
  finite = np.isfinite(log_residuals)
  # A failed fit (non-finite prediction) gives NaN rows, scored as infinitely wrong.
  band = intervals.prediction_interval(resampled, heldout_inputs, level=level,
                                       noise=log_residuals[finite] if finite.any() else 0.0,
                                       seed=seed)
  predicted = intervals.predict(form, fitted.params, heldout_inputs)
  largest_train_flops = np.max(arrays["c"][train])
  split = arrays[candidate.rollout_split]
  largest_train_split = np.max(split[train])
  rows = [dict(label=label(form, objective), form=form.name, objective=objective.kind,
               run=run_ids[i], n=float(arrays["n"][i]), d=float(arrays["d"][i]),
               c=float(arrays["c"][i]),
               distance=float(np.log10(arrays["c"][i] / largest_train_flops)),
               split_distance=float(np.log10(split[i] / largest_train_split)),
               actual=float(loss[i]), predicted=float(p), relative_error=float(p / loss[i] - 1),
               low=float(low), high=float(high), covered=bool(low <= loss[i] <= high))
          for i, p, low, high in zip(heldout, predicted, band.low, band.high)]
  block = fitted.to_json()
  summary = dict(label=label(form, objective), n_train=int(train.sum()),
                 params=dict(fitted.params), objective=fitted.objective,
                 criterion=block["criterion"], bounds=block["bounds"],
                 converged=fitted.converged, n_refits=band.n_refits,
                 n_failed=resampled.n_failed)
  return rows, summary
