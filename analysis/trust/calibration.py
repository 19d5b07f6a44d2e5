"""Prediction intervals calibrated by the data's own extrapolation record.

A bootstrap interval (`analysis.trust.intervals`) assumes the law's form is right; when it is
not, held-out errors grow with the distance of extrapolation and the interval under-covers. The
rollout (`analysis.trust.rollout`) supplies a record of held-out predictions, each with its
distance delta (`split_distance`: decades of C or N beyond the largest training run), its
bootstrap new-run interval (low, high) and the actual loss. From that record:

  * residual r = ln(actual / predicted), natural log;
  * bias: r = b delta through the origin, least squares, b = sum(r delta) / sum(delta^2). It is
    applied (r' = r - b delta, and every prediction multiplied by exp(b delta)) only when the
    record's sign is systematic: the mean residual has the same sign at every threshold of the
    record, of which there are at least `MIN_BIAS_THRESHOLDS` (the rows of one threshold share
    one fit, so they are not independent evidence of a sign), and a two-sided binomial sign
    test of the rows' signs is significant at `bias_significance`. On the held-out scoreboard
    (BENCHMARKS.md) requiring two agreeing thresholds instead of three corrected biases that
    then changed sign further out, and lowered coverage;
  * growth kappa: the interval's log half-width at distance delta is sqrt(h^2 + (kappa delta)^2),
    h the bootstrap interval's log half-width on the side of the error (ln(high / predicted)
    above, ln(predicted / low) below). A record row needs kappa_i = sqrt(max(r'^2 - h^2, 0)) /
    delta to be covered; kappa is the ceil((n + 1) level)-th smallest kappa_i of the n rows,
    the split-conformal quantile, so that a new prediction exchangeable with the record is
    covered with probability >= level. With fewer than level / (1 - level) rows that rank
    exceeds n; kappa is then the largest kappa_i and `guaranteed` is False.

Distances below `MIN_DISTANCE` decades count as `MIN_DISTANCE`, so that a run just beyond the
threshold does not need an unbounded growth. The growth is linear in delta: calibrating on a
record of shorter distances and predicting further out assumes the error keeps growing at the
rate of the record (the scoreboard, `benchmarks/scoreboard.py`, measures how well it holds).
Losses are in nats/token.
"""
from collections.abc import Sequence
import dataclasses
import math
from typing import Any

import numpy as np
import scipy.stats

from analysis.trust import rollout as rollout_lib

# Smallest distance (decades) a row or a target counts as (the rollout's level tolerance).
MIN_DISTANCE = 0.05
BIAS_SIGNIFICANCE = 0.05
# Record thresholds (independent fits) that must agree on the sign before a bias is corrected.
MIN_BIAS_THRESHOLDS = 3


@dataclasses.dataclass(frozen=True)
class Calibration:
  """How the record widens and shifts a bootstrap interval.

  Attributes:
    level: the coverage the growth is calibrated to, in (0, 1).
    n_record: record rows it rests on (0: no record, the bootstrap interval is kept).
    bias_slope: b, ln(actual / predicted) per decade of distance, as fitted.
    bias_p_value: the sign test's two-sided p-value (1 without a record).
    consistent_sign: whether the mean residual has one sign at every threshold of the record
      (at least `MIN_BIAS_THRESHOLDS`).
    bias_applied: whether predictions are multiplied by exp(b delta).
    positive_fraction: the fraction of record residuals with actual > predicted (None without
      a record).
    growth: kappa, the added log half-width per decade of distance.
    rank: the order statistic of the kappa_i that `growth` is (1-based; 0 without a record).
    guaranteed: whether the record is long enough for the split-conformal rank.
    bootstrap_coverage: the fraction of record rows the bootstrap intervals cover (None
      without a record).
  """
  level: float
  n_record: int
  bias_slope: float
  bias_p_value: float
  consistent_sign: bool
  bias_applied: bool
  positive_fraction: float | None
  growth: float
  rank: int
  guaranteed: bool
  bootstrap_coverage: float | None

  def interval(self, predicted: np.ndarray, low: np.ndarray, high: np.ndarray,
               distance: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(point, low, high) in nats/token: the bias-corrected prediction and its calibrated
    interval, from the bootstrap point `predicted`, its interval (`low`, `high`) and the
    distance of extrapolation (decades) of each target."""
    predicted, low, high = (np.asarray(x, np.float64) for x in (predicted, low, high))
    delta = np.maximum(np.asarray(distance, np.float64), MIN_DISTANCE)
    shift = self.bias_slope * delta if self.bias_applied else np.zeros_like(delta)
    spread = (self.growth * delta) ** 2
    up = np.sqrt(np.log(high / predicted) ** 2 + spread)
    down = np.sqrt(np.log(predicted / low) ** 2 + spread)
    point = predicted * np.exp(shift)
    return point, point * np.exp(-down), point * np.exp(up)

  def describe(self) -> str:
    """One sentence: what the record gave."""
    if not self.n_record:
      return "no held-out record: the bootstrap interval is kept"
    bias = (f"bias {100 * self.bias_slope:+.2f}% per decade corrected (sign test p = "
            f"{self.bias_p_value:.2g}, {100 * self.positive_fraction:.0f}% of residuals "
            "positive)" if self.bias_applied else
            f"no systematic sign (sign test p = {self.bias_p_value:.2g}; one sign at every "
            f"threshold: {'yes' if self.consistent_sign else 'no'}), no bias correction")
    rank = (f"the {self.rank}-th of {self.n_record} row scores" if self.guaranteed else
            f"the largest of {self.n_record} row scores (too few rows for a "
            f"{self.level:.0%} split-conformal rank)")
    return (f"{self.n_record} held-out predictions, of which the bootstrap intervals cover "
            f"{100 * self.bootstrap_coverage:.0f}%; {bias}; growth "
            f"{self.growth:.4g} in log loss per decade ({rank})")

  def to_json(self) -> dict[str, Any]:
    return dict(dataclasses.asdict(self), min_distance=MIN_DISTANCE,
                description=self.describe())


def uncalibrated(level: float) -> Calibration:
  """The calibration of an empty record: the bootstrap interval, unchanged."""
  return Calibration(level=level, n_record=0, bias_slope=0.0, bias_p_value=1.0,
                     consistent_sign=False, bias_applied=False, positive_fraction=None,
                     growth=0.0, rank=0, guaranteed=False, bootstrap_coverage=None)


def headline(found: Calibration | None) -> tuple[str, str]:
  """Which one-run interval a report leads with, 'calibrated' or 'bootstrap', and why."""
  if found is None or not found.n_record:
    return "bootstrap", "there is no held-out record of the law to calibrate by"
  return "calibrated", (
      "the bootstrap interval assumes the law's form is right out to the target; the "
      "calibrated one widens it (and corrects its bias where the record shows one) by the "
      f"law's own errors on {found.n_record} held-out predictions, as a function of distance")


def conformal_rank(n: int, level: float) -> int:
  """ceil((n + 1) level), the split-conformal order statistic (1-based) of n scores."""
  return int(math.ceil((n + 1) * level - 1e-12))


def calibrate(rows: Sequence[dict[str, Any]], level: float, *,
              bias_significance: float = BIAS_SIGNIFICANCE) -> Calibration:
  """The calibration of a held-out record.

  Args:
    rows: held-out predictions of one form, each with predicted and actual (nats/token), low
      and high (its bootstrap new-run interval), split_distance (decades) and threshold, as
      `RolloutResult.rows` (filtered to one label, e.g. by `record_below`). Rows whose
      prediction or interval is not finite and positive (a failed fit) are left out.
    level: the coverage to calibrate to, in (0, 1).
    bias_significance: the sign test's level for correcting the bias.

  Returns:
    The Calibration; `uncalibrated(level)` when no usable row is left.
  """
  if not 0 < level < 1:
    raise ValueError(f"level={level}: must be in (0, 1), e.g. 0.95")
  columns = {name: np.array([row[name] for row in rows], np.float64)
             for name in ("predicted", "actual", "low", "high", "split_distance", "threshold")}
  usable = np.ones(len(rows), bool)
  for name in ("predicted", "actual", "low", "high"):
    usable &= np.isfinite(columns[name]) & (columns[name] > 0)
  columns = {name: values[usable] for name, values in columns.items()}
  n = int(usable.sum())
  if n == 0:
    return uncalibrated(level)
  predicted, actual = columns["predicted"], columns["actual"]
  delta = np.maximum(columns["split_distance"], MIN_DISTANCE)
  residual = np.log(actual / predicted)
  slope = float(np.sum(residual * delta) / np.sum(delta ** 2))
  positive = int(np.sum(residual > 0))
  p_value = float(scipy.stats.binomtest(positive, n, 0.5).pvalue)
  signs = {float(np.sign(np.mean(residual[columns["threshold"] == t])))
           for t in np.unique(columns["threshold"])}
  consistent = (len(signs) == 1 and 0.0 not in signs
                and np.unique(columns["threshold"]).size >= MIN_BIAS_THRESHOLDS)
  applied = p_value < bias_significance and consistent
  corrected = residual - slope * delta if applied else residual
  half_width = np.where(corrected > 0, np.log(columns["high"] / predicted),
                        np.log(predicted / columns["low"]))
  scores = np.sqrt(np.maximum(corrected ** 2 - half_width ** 2, 0.0)) / delta
  rank = conformal_rank(n, level)
  guaranteed = rank <= n
  rank = min(rank, n)
  covered = (columns["low"] <= actual) & (actual <= columns["high"])
  return Calibration(level=level, n_record=n, bias_slope=slope, bias_p_value=p_value,
                     consistent_sign=bool(consistent), bias_applied=bool(applied),
                     positive_fraction=positive / n,
                     growth=float(np.sort(scores)[rank - 1]), rank=rank,
                     guaranteed=bool(guaranteed), bootstrap_coverage=float(np.mean(covered)))


def out_of_sample(result: rollout_lib.RolloutResult, label: str) -> list[dict[str, Any]]:
  """The rows of `label` (a form/objective of `result`), each with the calibration a user
  holding only the runs below its threshold would have (`record_below`): the row plus
  calibrated_predicted, calibrated_low, calibrated_high, calibrated_covered, n_record and
  bias_applied. Calibrated at the rollout's level; nats/token."""
  if label not in result.labels():
    raise ValueError(f"calibration: {label!r} is not among the rollout's forms "
                     f"{result.labels()}")
  rows = []
  for threshold in result.thresholds:
    record = [row for row in result.record_below(threshold) if row["label"] == label]
    found = calibrate(record, result.level)
    for row in result.rows:
      if row["label"] != label or row["threshold"] != threshold:
        continue
      point, low, high = (float(x[0]) for x in found.interval(
          [row["predicted"]], [row["low"]], [row["high"]], [row["split_distance"]]))
      rows.append(dict(row, calibrated_predicted=point, calibrated_low=low,
                       calibrated_high=high, calibrated_covered=bool(low <= row["actual"] <= high),
                       n_record=found.n_record, bias_applied=found.bias_applied))
  return rows
