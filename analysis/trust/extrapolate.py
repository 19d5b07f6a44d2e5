"""Held-out extrapolation: fit on runs below a compute threshold, predict the runs above it.

With a gap g >= 1 the fit takes the runs with C < threshold / g and predicts those with
C >= threshold, so that every held-out run has at least g x the largest training compute (the
runs in between are neither fitted nor scored).

Reports, per held-out run, the predicted loss (nats/token), the relative error
(predicted - actual) / actual, and whether two bootstrap intervals at `level` cover the truth
(both from `analysis.trust.intervals.prediction_interval`):
  * the parameter interval: spread of the predicted mean loss over bootstrap refits;
  * the prediction interval: each refit's prediction with a residual resampled from the
    training fit's log residuals, which adds the run-to-run noise the data show.
`predict` and `predict_samples` are those of `analysis.trust.intervals`.
"""
import dataclasses

import numpy as np

from analysis.fitting import fit
from analysis.table import checkpoints
from analysis.trust import intervals
from analysis.approaches import isoflop
from analysis.fitting import options as fit_options

predict = intervals.predict
predict_samples = intervals.predict_samples


@dataclasses.dataclass(frozen=True)
class ExtrapolationResult:
  """Held-out predictions; intervals have shape (2, held-out runs) (low, high)."""
  threshold_flops: float
  n_train: int
  gap: float
  train_max_flops: float
  heldout_min_flops: float
  heldout_index: np.ndarray
  actual: np.ndarray
  predicted: np.ndarray
  parameter_interval: np.ndarray
  prediction_interval: np.ndarray
  level: float
  fit: fit.FitResult

  @property
  def relative_error(self) -> np.ndarray:
    return (self.predicted - self.actual) / self.actual

  @property
  def covered(self) -> np.ndarray:
    """Whether the prediction interval holds the actual loss, per held-out run."""
    return ((self.prediction_interval[0] <= self.actual)
            & (self.actual <= self.prediction_interval[1]))

  def to_json(self) -> dict:
    parameter_covered = ((self.parameter_interval[0] <= self.actual)
                         & (self.actual <= self.parameter_interval[1]))
    return dict(
        threshold_flops=self.threshold_flops, n_train=self.n_train,
        n_heldout=len(self.actual), level=self.level, gap=self.gap,
        train_max_flops=self.train_max_flops, heldout_min_flops=self.heldout_min_flops,
        compute_ratio=self.heldout_min_flops / self.train_max_flops,
        mean_abs_relative_error=float(np.mean(np.abs(self.relative_error))),
        max_abs_relative_error=float(np.max(np.abs(self.relative_error))),
        prediction_interval_coverage=float(np.mean(self.covered)),
        parameter_interval_coverage=float(np.mean(parameter_covered)),
        fit=self.fit.to_json(),
        runs=[dict(index=int(i), actual=float(a), predicted=float(p), relative_error=float(r),
                   prediction_low=float(lo), prediction_high=float(hi), covered=bool(c))
              for i, a, p, r, lo, hi, c in zip(
                  self.heldout_index, self.actual, self.predicted, self.relative_error,
                  self.prediction_interval[0], self.prediction_interval[1], self.covered)])


def default_threshold(flops: np.ndarray, *, min_budgets: int = 3) -> float | None:
  """The lowest compute of the largest IsoFLOP budget when there are >= `min_budgets` budgets.

  Runs at or above it are held out; None when the runs form fewer budgets.
  """
  labels, budgets = isoflop.group_budgets(flops)
  if len(budgets) < min_budgets:
    return None
  return float(np.min(flops[labels == len(budgets) - 1]))


def extrapolate(options: fit_options.FitOptions, inputs: dict[str, np.ndarray],
                loss: np.ndarray, flops: np.ndarray, threshold_flops: float, *,
                gap: float = 1.0, weights: np.ndarray | None = None, n_resamples: int = 1000,
                level: float = 0.95, seed: int = 0, curves: np.ndarray | None = None
                ) -> ExtrapolationResult:
  """Fits `options.law` on the runs with C < threshold / gap, predicts those with C >= threshold.

  `inputs` holds the form's inputs per run (e.g. n parameters, d tokens); `flops` is C per run
  under the caller's convention. The fit and its bootstrap are the recipe of
  `analysis.fitting.options` below the threshold: `options`' objective, bounds of the training
  runs' losses, and `weights` per run (default `options.weights(flops=flops)`).
  With `curves` (a label per row naming the training curve it is a checkpoint of), only the
  curves whose last checkpoint is below threshold / gap train (`checkpoints.curve_split`), so
  no row of a curve with a held-out row is fitted; the rows at or above the threshold are
  predicted as without curves.
  Raises ValueError when either side is too small to use or the gap is below 1.
  """
  if not gap >= 1:
    raise ValueError(f"holdout_gap={gap}: use a factor >= 1 between the largest training "
                     f"compute and the held-out runs (1: no gap)")
  form = options.form()
  loss = np.asarray(loss, dtype=np.float64)
  flops = np.asarray(flops, dtype=np.float64)
  split = flops
  if curves is not None:
    split, _ = checkpoints.curve_split(flops, np.asarray(inputs["d"]), curves)
  train = split < threshold_flops / gap
  heldout = np.flatnonzero(flops >= threshold_flops)
  n_params = len(form.param_names)
  if len(heldout) == 0:
    raise ValueError(f"holdout_flops={threshold_flops:.3g}: no run at or above it; lower it")
  if train.sum() <= n_params:
    raise ValueError(f"holdout_flops={threshold_flops:.3g} (holdout_gap={gap:g}) leaves "
                     f"{int(train.sum())} runs to fit {n_params} parameters; raise it")
  train_inputs = {name: np.asarray(values)[train] for name, values in inputs.items()}
  heldout_inputs = {name: np.asarray(values)[heldout] for name, values in inputs.items()}
  weights = options.weights(flops=flops) if weights is None else weights
  fitted = fit_options.fit(options, inputs, loss, weights, form=form, train=train)
  predicted = predict(form, fitted.params, heldout_inputs)
  resampled = fit_options.resample(fitted, inputs, loss, weights, n_resamples=n_resamples,
                                   level=level, seed=seed, train=train)
  log_residuals = np.log(predict(form, fitted.params, train_inputs)) - np.log(loss[train])
  band = intervals.prediction_interval(resampled, heldout_inputs, level=level,
                                       noise=log_residuals, seed=seed)
  return ExtrapolationResult(
      threshold_flops=float(threshold_flops), n_train=int(train.sum()), gap=float(gap),
      train_max_flops=float(flops[train].max()), heldout_min_flops=float(flops[heldout].min()),
      heldout_index=heldout,
      actual=loss[heldout], predicted=predicted,
      parameter_interval=np.stack([band.parameter_low, band.parameter_high]),
      prediction_interval=np.stack([band.low, band.high]), level=level, fit=fitted)
