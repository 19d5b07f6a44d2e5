"""Tests for the figures of an analysis: what each draws, read back from its Axes, against the
inputs, the laws and closed forms; and the PNG `save` writes."""
import matplotlib.pyplot as plt
import numpy as np
import pytest

from analysis.approaches import isoflop
from analysis.approaches import optimal
from analysis.laws import published
from analysis.report import plots

E, A, B, ALPHA, BETA = 1.7, 400.0, 400.0, 0.34, 0.28


def law(n, d):
  """The law the runs come from, in closed form (nats/token)."""
  return E + A / n ** ALPHA + B / d ** BETA


@pytest.fixture
def runs():
  """Six sizes (parameters) on each of three IsoFLOP budgets (FLOPs), D = C / 6N tokens."""
  rng = np.random.default_rng(0)
  n = np.tile(np.geomspace(1e6, 1e8, 6), 3)
  c = np.repeat([1e16, 1e17, 1e18], 6)
  d = c / (6 * n)
  return n, d, c, law(n, d) * np.exp(rng.normal(0, 0.002, 18))


def test_save_writes_a_png_at_the_report_resolution_and_closes_the_figure(tmp_path, runs,
                                                                          assert_png):
  n, d, c, loss = runs
  figure = plots.residuals(c, loss, law(n, d))
  path = plots.save(figure, tmp_path / "residuals.png")
  assert path == tmp_path / "residuals.png"
  assert_png(path, 6.4)
  assert not plt.fignum_exists(figure.number)


def test_loss_vs_compute_shows_the_runs_the_frontier_and_the_laws(runs, artists, drawn):
  n, d, c, loss = runs
  frontier = np.array([0, 6, 12])
  grid = np.geomspace(1e16, 1e19, 20)
  optimal_loss, low, high = 3 * grid ** -0.01, 2.9 * grid ** -0.01, 3.1 * grid ** -0.01
  axis, = drawn(plots.loss_vs_compute(
      c, loss, frontier, frontier_law=lambda flops: 1.7 + 1e3 * flops ** -0.2,
      envelope=(c[:3], loss[:3]), optimal=(grid, optimal_loss, low, high))).axes
  np.testing.assert_array_equal(np.stack(artists.offsets(artists.labelled(axis, "runs"))),
                                [c, loss])
  np.testing.assert_array_equal(
      np.stack(artists.offsets(artists.labelled(axis, "frontier runs"))),
      [c[frontier], loss[frontier]])
  fitted_x, fitted_y = artists.labelled(axis, "fitted L(C)").get_xydata().T
  assert fitted_x[0] == pytest.approx(1e16) and fitted_x[-1] == pytest.approx(1e18)
  np.testing.assert_allclose(fitted_y, 1.7 + 1e3 * fitted_x ** -0.2, rtol=1e-12)
  np.testing.assert_array_equal(artists.labelled(axis, "envelope of curves").get_xydata(),
                                np.stack([c[:3], loss[:3]], axis=1))
  np.testing.assert_array_equal(artists.labelled(axis, "L(N, D) at the optimum").get_xydata(),
                                np.stack([grid, optimal_loss], axis=1))
  band = artists.band(artists.labelled(axis, "one-run interval"), grid)
  np.testing.assert_allclose(band, [low, high], rtol=1e-12)
  assert axis.get_xscale() == "log"


def test_loss_vs_compute_leaves_out_what_it_is_not_given(runs, drawn):
  n, d, c, loss = runs
  axis, = drawn(plots.loss_vs_compute(c, loss, np.array([0]))).axes
  assert [artist.get_label() for artist in [*axis.lines, *axis.collections]] == [
      "runs", "frontier runs"]


def test_isoflop_profiles_show_each_budget_its_parabola_and_minimum(runs, artists, drawn):
  n, d, c, loss = runs
  # The 1e18 budget's lowest loss is its largest size: drawn with an x when included.
  result = isoflop.approach2(n, d, c, loss, include_edge=True, n_resamples=0)
  assert [budget.at_edge for budget in result.budgets] == [False, False, True]
  axis, = drawn(plots.isoflop_profiles(result)).axes
  assert len(axis.lines) == len(result.budgets) == 3
  for index, budget in enumerate(result.budgets):
    members = np.isclose(c, budget.flops, rtol=1e-6)
    points, minimum = axis.collections[2 * index], axis.collections[2 * index + 1]
    np.testing.assert_array_equal(np.stack(artists.offsets(points)), [n[members], loss[members]])
    line = axis.lines[index]
    assert line.get_label() == f"{budget.flops:.2g} FLOPs"
    grid, profile = line.get_xydata().T
    assert grid[0] == pytest.approx(n[members].min()) and grid[-1] == pytest.approx(
        n[members].max())
    p0, p1, p2 = budget.parabola
    np.testing.assert_allclose(profile, p0 * np.log(grid) ** 2 + p1 * np.log(grid) + p2,
                               rtol=1e-12)
    # The least-squares parabola through the budget's runs, lowest at the starred minimum.
    np.testing.assert_allclose(p0 * np.log(n[members]) ** 2 + p1 * np.log(n[members]) + p2,
                               loss[members], rtol=0.01)
    assert budget.n_opt == pytest.approx(np.exp(-p1 / (2 * p0)), rel=1e-9)
    np.testing.assert_allclose(np.stack(artists.offsets(minimum)),
                               [[budget.n_opt], [budget.loss_opt]])
    assert profile.min() >= budget.loss_opt - 1e-12
    assert profile.min() == pytest.approx(budget.loss_opt, rel=1e-4)


def test_isoflop_profiles_show_a_left_out_budgets_runs_in_grey(runs, artists, drawn):
  n, d, c, loss = runs
  result = isoflop.approach2(n, d, c, loss, n_resamples=0)
  (left_out,) = result.left_out
  axis, = drawn(plots.isoflop_profiles(result)).axes
  assert len(axis.lines) == len(result.budgets) == 2
  grey = axis.collections[-1]
  assert grey.get_label() == f"{left_out.flops:.2g} FLOPs, left out (minimum at the edge)"
  members = np.isclose(c, left_out.flops, rtol=1e-6)
  np.testing.assert_array_equal(np.stack(artists.offsets(grey)), [n[members], loss[members]])


def test_law_fit_draws_the_law_along_each_isoflop_slice_and_against_the_runs(runs, artists,
                                                                             drawn):
  n, d, c, loss = runs
  slices, scatter = drawn(plots.law_fit(
      n, d, c, loss, law, band=lambda n, d: (0.98 * law(n, d), 1.02 * law(n, d)))).axes
  assert artists.labelled(slices, "other runs").get_offsets().shape[0] == 0
  bands = slices.collections[2::2]
  for index, budget in enumerate((1e16, 1e17, 1e18)):
    members = c == budget
    np.testing.assert_array_equal(np.stack(artists.offsets(slices.collections[1 + 2 * index])),
                                  [n[members], loss[members]])
    line = artists.labelled(slices, f"{budget:.2g} FLOPs")
    x, y = line.get_xydata().T
    assert x[0] == pytest.approx(n[members].min() / 2) and x[-1] == pytest.approx(
        n[members].max() * 2)
    np.testing.assert_allclose(y, E + A / x ** ALPHA + B / (budget / (6 * x)) ** BETA,
                               rtol=1e-12)
    np.testing.assert_allclose(artists.band(bands[index], x), [0.98 * y, 1.02 * y], rtol=1e-12)
  np.testing.assert_allclose(np.stack(artists.offsets(scatter.collections[0])),
                             [loss, E + A / n ** ALPHA + B / d ** BETA], rtol=1e-12)
  limits = [min(loss.min(), law(n, d).min()), max(loss.max(), law(n, d).max())]
  np.testing.assert_allclose(scatter.lines[0].get_xydata(), np.array([limits, limits]).T)


def test_optimal_size_draws_every_allocation_with_its_band(artists, drawn):
  flops = np.geomspace(1e18, 1e24, 10)
  n_opt = 0.1 * flops ** 0.5
  toy = optimal.Allocation("toy fit", "N total, C = 6ND", flops, n_opt, flops / (6 * n_opt),
                           np.stack([0.8 * n_opt, 1.25 * n_opt]), np.full((2, 10), np.nan),
                           level=0.9)
  epoch = published.LAWS["besiroglu2024"]
  allocations = [toy] + [optimal.from_published(published.LAWS[key], flops)
                         for key in ("besiroglu2024", "kaplan2020_compute")]
  axis, = drawn(plots.optimal_size(allocations, points=(flops[:3], np.array([1e8, 2e8, 4e8])),
                                   observed_range=(1e18, 1e20))).axes
  for allocation in allocations:
    line = artists.labelled(axis, allocation.source)
    np.testing.assert_array_equal(line.get_xydata(),
                                  np.stack([allocation.flops, allocation.n_opt], axis=1))
    assert line.get_linestyle() == ("-" if allocation is toy else "--")
  # Chinchilla's closed form: N_opt = G (C/6)^(beta/(alpha+beta)) with
  # G = (alpha A/(beta B))^(1/(alpha+beta)).
  p = epoch.params
  gain = (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1 / (p["alpha"] + p["beta"]))
  np.testing.assert_allclose(artists.labelled(axis, epoch.label).get_ydata(),
                             gain * (flops / 6) ** (p["beta"] / (p["alpha"] + p["beta"])),
                             rtol=1e-4)
  band, = [item for item in axis.collections if item.get_label().startswith("_")]
  np.testing.assert_allclose(artists.band(band, flops), [0.8 * n_opt, 1.25 * n_opt], rtol=1e-12)
  np.testing.assert_array_equal(
      np.stack(artists.offsets(artists.labelled(axis, "IsoFLOP minima"))),
      [flops[:3], [1e8, 2e8, 4e8]])
  span = artists.labelled(axis, "observed compute")
  assert (span.get_x(), span.get_x() + span.get_width()) == (1e18, 1e20)
  assert (axis.get_xscale(), axis.get_yscale()) == ("log", "log")


def test_residuals_are_log_predicted_less_log_actual(runs, artists, drawn):
  n, d, c, loss = runs
  axis, = drawn(plots.residuals(c, loss, law(n, d))).axes
  x, y = artists.offsets(axis.collections[0])
  np.testing.assert_array_equal(x, c)
  np.testing.assert_allclose(y, np.log(law(n, d) / loss), rtol=1e-9)
  # The noise drawn in `runs` was exp(N(0, 0.002)): the residuals undo it.
  assert np.abs(y).max() < 0.01 and np.std(y) == pytest.approx(0.002, rel=0.5)
  np.testing.assert_array_equal(axis.lines[0].get_ydata(), [0.0, 0.0])


def test_extrapolation_bars_are_the_intervals(runs, artists, drawn):
  n, d, c, loss = runs
  predicted = loss * 1.001
  interval = np.stack([loss * 0.98, loss * 1.03])
  axis, = drawn(plots.extrapolation(loss, predicted, interval, level=0.9)).axes
  container, = axis.containers
  assert container.get_label() == "held out, bootstrap (90% interval)"
  x, y, low, high = artists.error_bars(container)
  np.testing.assert_array_equal(x, loss)
  np.testing.assert_array_equal(y, predicted)
  np.testing.assert_allclose([low, high], interval, rtol=1e-12)
  limits = [interval.min(), interval.max()]
  np.testing.assert_array_equal(axis.lines[-1].get_xydata(), np.array([limits, limits]).T)
