"""Tests for log-log power-law fits."""
import numpy as np
import pytest

from analysis.laws import powerlaw


def test_fit_power_law_recovers_exact_law():
  x = np.geomspace(1e18, 1e22, 7)
  law = powerlaw.fit_power_law(x, 0.3 * x ** 0.48)
  assert law.exponent == pytest.approx(0.48, rel=1e-10)
  assert law.coefficient == pytest.approx(0.3, rel=1e-8)
  np.testing.assert_allclose(law(x), 0.3 * x ** 0.48, rtol=1e-8)


def test_weighted_lines_match_polyfit_on_repeated_points():
  rng = np.random.default_rng(0)
  x = rng.normal(size=8)
  y = 2 * x + 1 + rng.normal(scale=0.1, size=8)
  counts = np.array([[2, 0, 1, 1, 3, 0, 1, 0]], dtype=float)
  slope, intercept = powerlaw.weighted_lines(x, y[None], counts)
  expected = np.polyfit(np.repeat(x, counts[0].astype(int)), np.repeat(y, counts[0].astype(int)),
                        1)
  np.testing.assert_allclose([slope[0], intercept[0]], expected, rtol=1e-10)


def test_weighted_lines_degenerate_rows_are_nan():
  slope, intercept = powerlaw.weighted_lines(np.array([1.0, 2.0]), np.ones((1, 2)),
                                             np.array([[1.0, 0.0]]))
  assert np.isnan(slope[0]) and np.isnan(intercept[0])


def test_fit_power_law_rejects_bad_input():
  with pytest.raises(ValueError, match="positive"):
    powerlaw.fit_power_law(np.array([1.0, 2.0]), np.array([1.0, -1.0]))
  with pytest.raises(ValueError, match="distinct"):
    powerlaw.fit_power_law(np.array([2.0, 2.0]), np.array([1.0, 3.0]))

