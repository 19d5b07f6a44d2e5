"""The learning-rate fits: the log-quadratic optimum against closed forms, its interval against
scipy's curve_fit covariance, edges, and the power law."""
import math

import numpy as np
import pytest
from scipy import optimize, stats

from scaling import lr_fit


def test_optimum_of_an_exact_parabola_is_its_vertex():
  rates = 0.01 * 2.0 ** np.arange(-2, 3)
  losses = 3.0 + 0.2 * (np.log(rates) - math.log(0.013)) ** 2
  optimum = lr_fit.fit_optimum(rates, losses)
  assert optimum.learning_rate == pytest.approx(0.013)
  assert optimum.curvature == pytest.approx(0.2)
  assert optimum.minimum_loss == pytest.approx(3.0)
  assert optimum.edge == "" and optimum.interval == pytest.approx((0.013, 0.013))


def test_groups_share_the_optimum_and_differ_in_height():
  rates = np.tile(0.01 * 2.0 ** np.arange(-2, 3), 2)
  heights = np.repeat([3.0, 2.5], 5)
  losses = heights + 0.1 * (np.log(rates) - math.log(0.02)) ** 2
  optimum = lr_fit.fit_optimum(rates, losses, groups=np.repeat(["d1", "d2"], 5))
  assert optimum.learning_rate == pytest.approx(0.02)


def test_interval_is_the_delta_method_on_curve_fits_covariance():
  rng = np.random.default_rng(0)
  rates = 0.01 * 2.0 ** np.arange(-3, 4)
  x = np.log(rates)
  losses = 3.0 + 0.15 * (x - math.log(0.012)) ** 2 + rng.normal(0, 0.01, len(x))
  optimum = lr_fit.fit_optimum(rates, losses, level=0.9)
  (a, b, _), covariance = optimize.curve_fit(lambda x, a, b, c: a * x * x + b * x + c, x, losses)
  vertex = -b / (2 * a)
  gradient = np.array([b / (2 * a * a), -1 / (2 * a), 0.0])
  half = stats.t.ppf(0.95, len(x) - 3) * math.sqrt(gradient @ covariance @ gradient)
  assert optimum.learning_rate == pytest.approx(math.exp(vertex))
  assert optimum.interval == pytest.approx((math.exp(vertex - half), math.exp(vertex + half)))


def test_three_points_have_no_interval_and_fewer_are_refused():
  optimum = lr_fit.fit_optimum([0.01, 0.02, 0.04], [3.2, 3.0, 3.1])
  assert all(math.isnan(value) for value in optimum.interval)
  with pytest.raises(ValueError, match="at least 3 distinct learning rates, got 2"):
    lr_fit.fit_optimum([0.01, 0.02, 0.02], [3.2, 3.0, 3.1])


@pytest.mark.parametrize("losses, edge", [
    ([3.0, 3.1, 3.3, 3.6], "low"),     # falling towards the smallest learning rate
    ([3.6, 3.3, 3.1, 3.0], "high"),
    ([3.0, 3.3, 3.3, 3.0], "low"),     # opens downward: the best grid point, first of a tie
    ([3.3, 3.0, 3.1, 3.3], ""),
])
def test_edges(losses, edge):
  optimum = lr_fit.fit_optimum([0.01, 0.02, 0.04, 0.08], losses)
  assert optimum.edge == edge


def test_law_recovers_exponents_in_n_and_d():
  n = np.array([1e4, 2e4, 4e4, 1e4, 2e4, 4e4, 8e4])
  d = np.array([1e6, 1e6, 1e6, 4e6, 4e6, 4e6, 2e6])
  law = lr_fit.fit_law(n, 0.3 * n ** -0.4 * d ** 0.1, d=d)
  assert (law.coefficient, law.n_exponent, law.d_exponent) == pytest.approx((0.3, -0.4, 0.1))
  assert law(2e4, 1e6) == pytest.approx(0.3 * 2e4 ** -0.4 * 1e6 ** 0.1)
  only_n = lr_fit.fit_law(n[:3], 0.3 * n[:3] ** -0.4)
  assert only_n.d_exponent_interval is None and only_n(1e4, 5.0) == pytest.approx(
      0.3 * 1e4 ** -0.4)
  with pytest.raises(ValueError, match="do not determine LR"):
    lr_fit.fit_law([1e4, 1e4], [0.01, 0.02])


def test_distance_is_in_factors_of_two():
  assert lr_fit.distance(0.04, 0.01) == pytest.approx(2.0)


def test_a_vertex_beyond_the_grid_gives_the_grids_end_as_a_bound():
  rates = np.array([0.01, 0.02, 0.04, 0.08])
  optimum = lr_fit.fit_optimum(rates, 3 + 0.1 * np.log(rates / 0.5) ** 2)
  assert optimum.edge == "high" and optimum.learning_rate == pytest.approx(0.08)
  assert optimum.vertex == pytest.approx(math.log(0.5))
  assert all(math.isnan(value) for value in optimum.interval)
  assert optimum.curve(np.array([0.5])) == pytest.approx([3.0])
