"""Tests for the residual figures: the residuals and trend lines they draw, read back from their
Axes, against the law in closed form and an independent least-squares line."""
import matplotlib.colors
import numpy as np
import pytest

from analysis.laws import catalogue
from analysis.report import diagnostic_plots
from analysis.report import plots
from analysis.trust import residuals

E, A, B, ALPHA, BETA = 1.69, 406.4, 410.7, 0.34, 0.28
LAW = dict(E=E, A=A, B=B, alpha=ALPHA, beta=BETA)
# Six sizes (parameters) on each of three budgets (FLOPs), D = C / 6N tokens.
N = np.tile(np.geomspace(1e6, 1e8, 6), 3)
C = np.repeat([1e16, 1e17, 1e18], 6)
D = C / (6 * N)


def _observed(trend_per_log_n: float) -> np.ndarray:
  """Losses (nats/token) off the law by noise and by `trend_per_log_n` * ln(N / 1e7) in log."""
  noise = np.random.default_rng(0).normal(0, 0.01 if trend_per_log_n == 0 else 0.002, N.size)
  law = E + A / N ** ALPHA + B / D ** BETA
  return law * np.exp(noise + trend_per_log_n * np.log(N / 1e7))


@pytest.fixture(params=[0.0, 0.02], ids=["noise", "trend_in_n"])
def observed(request) -> tuple[float, np.ndarray, residuals.Diagnostics]:
  loss = _observed(request.param)
  return request.param, loss, residuals.diagnose(catalogue.CHINCHILLA, LAW, dict(n=N, d=D),
                                                 loss, budgets=C)


def test_residual_panels_show_the_residuals_and_their_trends(observed, artists, drawn):
  injected, loss, diagnostics = observed
  axes = drawn(diagnostic_plots.residual_panels(diagnostics, n_label="N (non-embedding)")).axes
  expected = np.log(E + A / N ** ALPHA + B / D ** BETA) - np.log(loss)
  log_prediction = np.log(E + A / N ** ALPHA + B / D ** BETA)
  for axis, x, name in zip(axes, (np.log(N), np.log(D), log_prediction), ("n", "d", "prediction")):
    points_x, points_y = artists.offsets(axis.collections[0])
    np.testing.assert_allclose(points_x, x, rtol=1e-12)
    np.testing.assert_allclose(points_y, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(axis.lines[0].get_ydata(), [0.0, 0.0])
    trend_x, trend_y = axis.lines[1].get_xydata().T
    np.testing.assert_allclose(trend_x, [x.min(), x.max()], rtol=1e-12)
    slope, intercept = np.polyfit(x, expected, 1)
    np.testing.assert_allclose(trend_y, intercept + slope * trend_x, rtol=1e-6, atol=1e-9)
    significant = diagnostics.trends[name]["p_value"] < diagnostics.significance
    colour = "C3" if significant else "0.4"
    assert matplotlib.colors.same_color(axis.lines[1].get_color(), colour), name
    assert axis.lines[1].get_linestyle() == ("-" if significant else "--"), name
  assert axes[0].get_xlabel() == "ln parameters N (non-embedding)"
  if injected:
    # The injected trend, undone: r = ln(predicted) - ln(observed) falls by 0.02 per unit ln N.
    slope = np.diff(axes[0].lines[1].get_ydata()) / np.diff(axes[0].lines[1].get_xdata())
    assert slope[0] == pytest.approx(-injected, rel=0.05)
    assert matplotlib.colors.same_color(axes[0].lines[1].get_color(), "C3")


def test_residual_panels_say_which_inputs_are_missing(artists, drawn):
  c = np.geomspace(1e16, 1e20, 8)
  form = catalogue.single_variable("c")
  params = dict(E=1.7, A=2e3, alpha=0.15)
  loss = form.predict(params, c=c) * np.exp(np.linspace(-0.01, 0.01, 8))
  axes = drawn(diagnostic_plots.residual_panels(residuals.diagnose(form, params, dict(c=c),
                                                                   loss))).axes
  for axis in axes[:2]:
    assert [text.get_text() for text in axis.texts] == ["not among the inputs"]
    assert not axis.collections
  np.testing.assert_allclose(artists.offsets(axes[2].collections[0])[1],
                             -np.linspace(-0.01, 0.01, 8), atol=1e-12)


def test_residuals_by_budget_strips_follow_ln_n_with_the_mean_bar(observed, artists, drawn):
  _, loss, diagnostics = observed
  axis, = drawn(diagnostic_plots.residuals_by_budget(diagnostics)).axes
  expected = np.log(E + A / N ** ALPHA + B / D ** BETA) - np.log(loss)
  assert [label.get_text() for label in axis.get_xticklabels()] == ["1e+16", "1e+17", "1e+18"]
  strips = axis.collections[0::2]
  bars = axis.collections[1::2]
  for position, (budget, strip, bar) in enumerate(zip((1e16, 1e17, 1e18), strips, bars)):
    x, y = artists.offsets(strip)
    members = C == budget
    np.testing.assert_allclose(y, expected[members], rtol=1e-9, atol=1e-12)
    # Sizes ascend within a budget, so the strip runs left to right across its whole width.
    np.testing.assert_allclose(x[[0, -1]], [position - 0.35, position + 0.35], rtol=1e-12)
    assert np.all(np.diff(x) > 0)
    np.testing.assert_allclose((x - x[0]) / 0.7, (np.log(N[members]) - np.log(N[members][0]))
                               / np.ptp(np.log(N[members])), atol=1e-12)
    segment, = bar.get_segments()
    np.testing.assert_allclose(segment, [[position - 0.35, expected[members].mean()],
                                         [position + 0.35, expected[members].mean()]],
                               rtol=1e-9, atol=1e-12)


def test_residuals_by_budget_needs_budgets(observed):
  _, _, diagnostics = observed
  diagnostics.budgets = {}
  with pytest.raises(ValueError, match="budgets="):
    diagnostic_plots.residuals_by_budget(diagnostics)


def test_the_panels_save_as_a_wide_png(tmp_path, observed, assert_png):
  _, _, diagnostics = observed
  assert_png(plots.save(diagnostic_plots.residual_panels(diagnostics), tmp_path / "panels.png"),
             13)
