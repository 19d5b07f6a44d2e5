"""Tests for the report's figures as drawn from a real analysis: each shows the fitted law,
read back from its Axes and checked against the law in closed form at the fitted parameters."""
import numpy as np
import pytest

from analysis.report import figures
from analysis.report import pipeline
from analysis.table import observations
from analysis.trust import intervals

TRUE = dict(E=1.8, A=480.0, B=2100.0, alpha=0.35, beta=0.37)


def _law(params: dict, n: np.ndarray, d: np.ndarray) -> np.ndarray:
  return params["E"] + params["A"] / n ** params["alpha"] + params["B"] / d ** params["beta"]


def _optimum(params: dict, flops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Chinchilla's closed-form compute-optimal (N_opt, loss) under C = 6ND:
  N_opt = G (C/6)^(beta/(alpha+beta)), G = (alpha A / (beta B))^(1/(alpha+beta))."""
  alpha, beta = params["alpha"], params["beta"]
  gain = (alpha * params["A"] / (beta * params["B"])) ** (1 / (alpha + beta))
  n_opt = gain * (flops / 6) ** (beta / (alpha + beta))
  return n_opt, _law(params, n_opt, flops / (6 * n_opt))


@pytest.fixture(scope="module")
def analysis() -> pipeline.Analysis:
  """Approach 3 (and the rest) on 4 IsoFLOP budgets x 6 sizes from TRUE with 0.3% noise."""
  rng = np.random.default_rng(0)
  n, c = [], []
  for flops in np.geomspace(1e18, 1e21, 4):
    optimum = 0.6 * (flops / 6) ** 0.5
    n += list(np.geomspace(optimum / 5, optimum * 5, 6))
    c += [flops] * 6
  n, c = np.array(n), np.array(c)
  loss = _law(TRUE, n, c / (6 * n)) * np.exp(rng.normal(0, 0.003, n.size))
  table = observations.Observations.from_columns(n_total=n, d=c / (6 * n), loss=loss)
  return pipeline.analyse(table, n_convention="total", n_resamples=6, table_flops=[1e22, 1e23],
                          kaplan=False, single_variable=False)


@pytest.fixture(scope="module")
def made(analysis):
  """name -> the figure drawn, closed after the module's tests."""
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  drawn = {name: make() for name, make in figures.makers(analysis).items()}
  yield drawn
  for figure in drawn.values():
    plt.close(figure)


@pytest.mark.slow
def test_every_result_of_the_analysis_gets_its_figure(analysis, made):
  assert analysis.approach1 is None and analysis.approach2 is not None
  assert analysis.extrapolation is not None and analysis.diagnostics.budgets
  expected = {"loss_vs_compute", "law_fit", "optimal_size", "residuals", "isoflop_profiles",
              "residual_panels", "residuals_by_budget", "extrapolation"}
  if analysis.rollout is not None:
    expected |= {"rollout_errors", "rollout_final_split"}
  assert set(made) == expected and set(figures.NAMES) >= expected


@pytest.mark.slow
def test_loss_vs_compute_shows_approach3s_optimum_up_to_the_largest_table_budget(analysis, made,
                                                                                 artists):
  axis, = made["loss_vs_compute"].axes
  grid, optimal_loss = artists.labelled(axis, "L(N, D) at the optimum").get_xydata().T
  assert grid[0] == pytest.approx(analysis.runs["c"].min()) and grid[-1] == pytest.approx(1e23)
  np.testing.assert_allclose(optimal_loss, _optimum(analysis.approach3.params, grid)[1],
                             rtol=1e-6)
  band = intervals.compute_optimal_interval(analysis.approach3_bootstrap, grid,
                                            noise=analysis.noise)
  np.testing.assert_allclose(artists.band(artists.labelled(axis, "one-run interval"), grid),
                             [band.low, band.high], rtol=1e-12)
  np.testing.assert_array_equal(np.stack(artists.offsets(artists.labelled(axis, "runs"))),
                                [analysis.runs["c"], analysis.runs["loss"]])


@pytest.mark.slow
def test_law_fit_and_residuals_show_the_fitted_law(analysis, made, artists):
  params, runs = analysis.approach3.params, analysis.runs
  slices, scatter = made["law_fit"].axes
  for line in slices.lines:
    flops = float(line.get_label().split()[0])
    x, y = line.get_xydata().T
    np.testing.assert_allclose(y, _law(params, x, flops / (6 * x)), rtol=1e-3)
  assert len(slices.lines) == 4
  np.testing.assert_allclose(np.stack(artists.offsets(scatter.collections[0])),
                             [runs["loss"], _law(params, runs["n"], runs["d"])], rtol=1e-9)
  axis, = made["residuals"].axes
  np.testing.assert_allclose(artists.offsets(axis.collections[0])[1],
                             np.log(_law(params, runs["n"], runs["d"]) / runs["loss"]),
                             rtol=1e-6, atol=1e-9)


@pytest.mark.slow
def test_optimal_size_and_extrapolation_show_the_fits(analysis, made, artists):
  axis, = made["optimal_size"].axes
  flops, n_opt = artists.labelled(axis, "Approach 3 (this fit)").get_xydata().T
  np.testing.assert_allclose(n_opt, _optimum(analysis.approach3.params, flops)[0], rtol=1e-3)
  minima = artists.labelled(axis, "IsoFLOP minima")
  np.testing.assert_allclose(np.stack(artists.offsets(minima)),
                             [[b.flops for b in analysis.approach2.budgets],
                              [b.n_opt for b in analysis.approach2.budgets]])
  result = analysis.extrapolation
  bootstrap, calibrated = made["extrapolation"].axes[0].containers
  x, y, low, high = artists.error_bars(bootstrap)
  np.testing.assert_array_equal([x, y], [result.actual, result.predicted])
  np.testing.assert_allclose([low, high], result.prediction_interval, rtol=1e-12)
  # Beside each run, its prediction and interval calibrated by the training runs' record.
  held_out = analysis.summary["calibration"]["held_out"]["runs"]
  x, y, low, high = artists.error_bars(calibrated)
  np.testing.assert_allclose(y, [run["predicted"] for run in held_out], rtol=1e-12)
  np.testing.assert_allclose([low, high], [[run["low"] for run in held_out],
                                           [run["high"] for run in held_out]], rtol=1e-12)
  assert np.all(x > result.actual)


@pytest.mark.slow
def test_excess_over_floor_draws_the_runs_and_the_fit_above_a_known_floor(drawn):
  """An N x D grid with a known floor: the figure is made, and its points and lines are the
  runs' and the fitted law's loss minus that floor."""
  n, d = (grid.ravel() for grid in np.meshgrid(np.geomspace(1e3, 3e4, 6),
                                               np.geomspace(5e5, 4e6, 4)))
  floor = TRUE["E"] - 0.01
  loss = _law(TRUE, n, d) * np.exp(np.random.default_rng(1).normal(0, 0.002, n.size))
  table = observations.Observations.from_columns(n_total=n, d=d, loss=loss,
                                                 loss_floor=np.full(n.size, floor))
  result = pipeline.analyse(table, n_convention="total", n_resamples=6, kaplan=False,
                            single_variable=False)
  assert "excess_over_floor" in figures.NAMES
  figure = drawn(figures.makers(result)["excess_over_floor"]())
  by_n, by_d = figure.axes
  params = result.approach3.params
  for axis, x, series in ((by_n, result.runs["n"], result.runs["d"]),
                          (by_d, result.runs["d"], result.runs["n"])):
    values = np.unique(series)
    assert len(axis.collections) == len(axis.get_lines()) == len(values)
    for value, points, line in zip(values, axis.collections, axis.get_lines()):
      members = series == value
      np.testing.assert_allclose(points.get_offsets(),
                                 np.stack([x[members], result.runs["loss"][members] - floor], 1))
      grid, drawn_excess = line.get_xydata().T
      n_grid, d_grid = (grid, np.full_like(grid, value)) if axis is by_n else (
          np.full_like(grid, value), grid)
      np.testing.assert_allclose(drawn_excess, _law(params, n_grid, d_grid) - floor, rtol=1e-9)


def test_no_floor_no_excess_figure(made):
  assert "excess_over_floor" not in made
