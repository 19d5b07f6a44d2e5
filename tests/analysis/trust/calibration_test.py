"""Tests for intervals calibrated by the held-out record."""
import dataclasses
import json

import numpy as np
import pytest
import scipy.stats

from analysis.trust import calibration

LEVEL = 0.9


def _record(n, *, bias, spread, half_width=0.002, seed=0, thresholds=4):
  """Held-out rows of a misspecified law: ln(actual / predicted) = bias delta + spread delta e,
  e ~ N(0, 1), delta ~ U(0.1, 1.5) decades; bootstrap intervals of log half-width
  `half_width` around predicted = 3 nats/token."""
  rng = np.random.default_rng(seed)
  delta = rng.uniform(0.1, 1.5, n)
  residual = bias * delta + spread * delta * rng.normal(size=n)
  predicted = np.full(n, 3.0)
  return [dict(predicted=p, actual=p * np.exp(r), low=p * np.exp(-half_width),
               high=p * np.exp(half_width), split_distance=x, threshold=float(i % thresholds))
          for p, r, x, i in zip(predicted, residual, delta, range(n))]


def _covered(found, rows):
  columns = {k: np.array([r[k] for r in rows]) for k in (
      "predicted", "low", "high", "split_distance", "actual")}
  _, low, high = found.interval(columns["predicted"], columns["low"], columns["high"],
                                columns["split_distance"])
  return (low <= columns["actual"]) & (columns["actual"] <= high)


def test_calibration_restores_coverage_where_the_bootstrap_undercovers():
  spread, bias = 0.01, 0.02
  found = calibration.calibrate(_record(400, bias=bias, spread=spread), LEVEL)
  assert found.bootstrap_coverage < 0.2
  assert found.bias_applied and found.guaranteed
  assert found.bias_slope == pytest.approx(bias, abs=0.15 * bias)
  fresh = _record(4000, bias=bias, spread=spread, seed=1)
  bootstrap = np.mean([r["low"] <= r["actual"] <= r["high"] for r in fresh])
  coverage = np.mean(_covered(found, fresh))
  # The residual after the bias is spread delta e, so a row is covered when |e| is below about
  # growth / spread (the bootstrap half-width is negligible): coverage 2 Phi(growth / spread) - 1,
  # and the conformal growth is near spread z_(1+level)/2.
  expected = 2 * scipy.stats.norm.cdf(found.growth / spread) - 1
  assert bootstrap < 0.2
  assert coverage == pytest.approx(expected, abs=0.03)
  assert coverage == pytest.approx(LEVEL, abs=0.04)
  assert found.growth == pytest.approx(spread * scipy.stats.norm.ppf(0.5 + LEVEL / 2), rel=0.15)


def test_growth_is_the_smallest_that_covers_the_conformal_rank_of_rows():
  rows = _record(57, bias=0.0, spread=0.02, half_width=0.01, seed=2)
  found = calibration.calibrate(rows, LEVEL)
  assert not found.bias_applied
  rank = int(np.ceil((len(rows) + 1) * LEVEL))
  assert found.rank == rank == calibration.conformal_rank(len(rows), LEVEL)
  # Brute force: the smallest growth on a fine grid covering at least `rank` record rows.
  grid = np.linspace(0, 0.2, 8001)
  counts = [np.sum(_covered(dataclasses.replace(found, growth=g), rows)) for g in grid]
  smallest = grid[np.argmax(np.array(counts) >= rank)]
  assert found.growth == pytest.approx(smallest, abs=3e-5)
  assert np.sum(_covered(found, rows)) >= rank


def test_no_bias_correction_unless_enough_thresholds_agree_in_sign():
  rows = _record(40, bias=0.05, spread=0.001, thresholds=4)
  assert calibration.calibrate(rows, LEVEL).bias_applied
  for row in rows:
    if row["threshold"] == 1.0:
      row["actual"] = row["predicted"] ** 2 / row["actual"]
  found = calibration.calibrate(rows, LEVEL)
  assert found.bias_p_value < 0.05 and not found.consistent_sign and not found.bias_applied
  assert "no bias correction" in found.describe()
  two = calibration.calibrate(_record(40, bias=0.05, spread=0.001, thresholds=2), LEVEL)
  assert calibration.MIN_BIAS_THRESHOLDS == 3 and not two.bias_applied


def test_short_and_empty_records():
  short = calibration.calibrate(_record(5, bias=0.0, spread=0.02), LEVEL)
  assert not short.guaranteed and short.rank == 5 and "too few rows" in short.describe()
  empty = calibration.calibrate([], LEVEL)
  assert empty.n_record == 0 and empty == calibration.uncalibrated(LEVEL)
  point, low, high = empty.interval([3.0], [2.9], [3.2], [1.0])
  np.testing.assert_allclose([point[0], low[0], high[0]], [3.0, 2.9, 3.2])
  assert json.loads(json.dumps(short.to_json()))["n_record"] == 5
  with pytest.raises(ValueError, match="level"):
    calibration.calibrate([], 1.5)
