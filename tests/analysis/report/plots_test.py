"""Tests for the figures: each writes a readable PNG of the expected size."""
import numpy as np
import pytest

from analysis.approaches import isoflop
from analysis.approaches import optimal
from analysis.report import plots
from analysis.laws import published
@pytest.fixture
def runs():
  rng = np.random.default_rng(0)
  n = np.tile(np.geomspace(1e6, 1e8, 6), 3)
  c = np.repeat([1e16, 1e17, 1e18], 6)
  d = c / (6 * n)
  loss = (1.7 + 400 / n ** 0.34 + 400 / d ** 0.28) * np.exp(rng.normal(0, 0.002, 18))
  return n, d, c, loss


def test_run_figures(tmp_path, runs, assert_png):
  n, d, c, loss = runs
  assert_png(plots.loss_vs_compute(tmp_path / "a.png", c, loss, np.array([0, 6]),
                                    frontier_law=lambda x: 1.7 + 1e3 * x ** -0.2,
                                    envelope=(c[:3], loss[:3])), 6.4)
  result = isoflop.approach2(n, d, c, loss, n_resamples=5)
  assert_png(plots.isoflop_profiles(tmp_path / "b.png", result), 6.4)
  law = lambda n, d: 1.7 + 400 / n ** 0.34 + 400 / d ** 0.28  # noqa: E731
  assert_png(plots.law_fit(tmp_path / "c.png", n, d, c, loss, law,
                            band=lambda n, d: (0.98 * law(n, d), 1.02 * law(n, d))), 11)
  grid = np.geomspace(1e16, 1e19, 20)
  assert_png(plots.loss_vs_compute(tmp_path / "f.png", c, loss, np.array([0, 6]),
                                    optimal=(grid, 3 * grid ** -0.01, 2.9 * grid ** -0.01,
                                             3.1 * grid ** -0.01)), 6.4)
  assert_png(plots.residuals(tmp_path / "d.png", c, loss, loss * 1.01), 6.4)
  interval = np.stack([loss * 0.99, loss * 1.01])
  assert_png(plots.extrapolation(tmp_path / "e.png", loss, loss * 1.001, interval, level=0.9),
              5.2)


def test_optimal_size_figure(tmp_path, assert_png):
  flops = np.geomspace(1e18, 1e24, 10)
  allocations = [optimal.from_published(published.LAWS[key], flops)
                 for key in ("besiroglu2024", "kaplan2020_compute")]
  path = plots.optimal_size(tmp_path / "f.png", allocations,
                            points=(flops[:3], np.array([1e8, 2e8, 4e8])),
                            observed_range=(1e18, 1e20))
  assert_png(path, 6.4)
