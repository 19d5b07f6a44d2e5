"""Tests for Approach 2 (IsoFLOP parabolas)."""
import csv

import numpy as np
import pytest

from analysis.approaches import isoflop
from analysis.table import observations

# Hoffmann et al. (2022) Eq. 10 constants as a synthetic source: a = beta / (alpha + beta).
E, A, B, ALPHA, BETA = 1.69, 406.4, 410.7, 0.34, 0.28
TRUE_A = BETA / (ALPHA + BETA)
NOMINAL_CHINCHILLA_BUDGETS = (6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21)


def _law(n, d):
  return E + A / n ** ALPHA + B / d ** BETA


def _optimal_n(flops):
  scale = (ALPHA * A / (BETA * B)) ** (1 / (ALPHA + BETA))
  return scale * (flops / 6) ** TRUE_A


def _isoflop_runs(budgets, sizes_per_budget=9, span=4.0, noise=0.003, seed=0, shift=1.0):
  rng = np.random.default_rng(seed)
  n, c = [], []
  for flops in budgets:
    sizes = np.geomspace(_optimal_n(flops) * shift / span, _optimal_n(flops) * shift * span,
                         sizes_per_budget)
    n.extend(sizes)
    c.extend(np.full(sizes_per_budget, flops))
  n, c = np.array(n), np.array(c)
  d = c / (6 * n)
  loss = _law(n, d) * np.exp(rng.normal(0, noise, len(n)))
  return n, d, c, loss


def test_recovers_exponents_of_a_known_law():
  n, d, c, loss = _isoflop_runs(np.geomspace(1e18, 1e22, 6))
  result = isoflop.approach2(n, d, c, loss, n_resamples=300)
  assert result.a == pytest.approx(TRUE_A, abs=0.015)
  assert result.a + result.b == pytest.approx(1.0, abs=1e-9)
  assert result.ci["a"][0] < TRUE_A < result.ci["a"][1]
  np.testing.assert_allclose([b.n_opt for b in result.budgets],
                             _optimal_n(np.geomspace(1e18, 1e22, 6)), rtol=0.15)
  assert result.warnings == [] and result.n_failed == 0


def test_groups_scattered_budgets_without_a_budget_column():
  budgets = np.geomspace(1e18, 1e21, 4)
  n, d, c, loss = _isoflop_runs(budgets)
  rng = np.random.default_rng(1)
  scattered = c * 10 ** rng.uniform(-0.04, 0.0, len(c))
  labels, flops = isoflop.group_budgets(scattered)
  assert len(flops) == 4
  np.testing.assert_array_equal(labels, np.repeat(np.arange(4), 9))
  np.testing.assert_allclose(np.log10(flops), np.log10(budgets), atol=0.04)
  labels, flops = isoflop.group_budgets(scattered, nominal=budgets)
  np.testing.assert_array_equal(labels, np.repeat(np.arange(4), 9))


def test_budget_column_takes_precedence():
  labels, flops = isoflop.group_budgets(np.array([1.0, 1.1, 50.0]), np.array([3.0, 7.0, 3.0]))
  np.testing.assert_array_equal(labels, [0, 1, 0])
  np.testing.assert_array_equal(flops, [3.0, 7.0])


def test_edge_budgets_are_left_out_unless_included_and_small_budgets_always():
  n, d, c, loss = _isoflop_runs(np.geomspace(1e18, 1e20, 3), shift=6.0)
  small_n, small_d, small_c, small_loss = _isoflop_runs([1e22], sizes_per_budget=2)
  runs = [np.concatenate(pair) for pair in ((n, small_n), (d, small_d), (c, small_c),
                                            (loss, small_loss))]
  with pytest.raises(ValueError, match=r"found 0 \(3 left out with the minimum at an edge\)"):
    isoflop.approach2(*runs, budget=runs[2], n_resamples=50)
  result = isoflop.approach2(*runs, budget=runs[2], include_edge=True, n_resamples=50)
  text = "\n".join(result.warnings)
  assert "1e+22 FLOPs left out: 2 distinct sizes" in text
  assert text.count("used with its extrapolated N_opt") == 3
  assert all(budget.at_edge for budget in result.budgets)
  assert [(b.flops, b.reason) for b in result.left_out] == [(1e22, "too few sizes")]


def _with_an_edge_budget():
  """Four budgets sampled around their optimum, and a fifth (1e22 FLOPs) whose sizes all lie
  above it (1.5x-24x N_opt): its lowest loss is its smallest size. Noiseless."""
  good = _isoflop_runs(np.geomspace(1e18, 1e21, 4), noise=0.0)
  edge = _isoflop_runs([1e22], shift=6.0, noise=0.0)
  return [np.concatenate(pair) for pair in zip(good, edge)]


def test_a_budget_with_its_minimum_beyond_the_sizes_is_left_out_by_default():
  result = isoflop.approach2(*_with_an_edge_budget(), n_resamples=200)
  # Every budget kept spans the same factor around its optimum, so the parabolas' vertices are
  # off by one constant factor and the slope is exactly beta / (alpha + beta).
  assert result.a == pytest.approx(TRUE_A, abs=1e-9)
  assert result.ci["a"][0] <= TRUE_A <= result.ci["a"][1]
  assert [budget.flops for budget in result.budgets] == pytest.approx([1e18, 1e19, 1e20, 1e21])
  assert [(b.flops, b.reason) for b in result.left_out] == [(pytest.approx(1e22),
                                                             "minimum at the edge")]
  assert result.to_json()["left_out"] == [dict(flops=pytest.approx(1e22),
                                               reason="minimum at the edge")]
  warning, = result.warnings
  assert "1e+22 FLOPs left out: its minimum sits at the edge of the sampled sizes" in warning


def test_including_the_edge_budget_biases_the_exponent():
  result = isoflop.approach2(*_with_an_edge_budget(), include_edge=True, n_resamples=200)
  assert len(result.budgets) == 5 and result.left_out == [] and result.budgets[-1].at_edge
  assert abs(result.a - TRUE_A) > 0.005
  assert not result.ci["a"][0] <= TRUE_A <= result.ci["a"][1]
  assert "used with its extrapolated N_opt" in result.warnings[0]


def test_a_window_around_the_minimum_follows_a_skewed_profile():
  # Porian et al.-like profiles: one grid of sizes for every budget, sampled further above the
  # optimum than below, and a loss that rises steeply above it; ln N_opt = ln(C / 6) / 2 - 2.
  grid = np.log(np.geomspace(1e6, 1e10, 25))
  n, c, loss = [], [], []
  for flops in np.geomspace(1e18, 1e21, 7):
    x = grid[(grid > 0.5 * np.log(flops / 6) - 3.2) & (grid < 0.5 * np.log(flops / 6) + 1.0)]
    offset = x - (0.5 * np.log(flops / 6) - 2.0)
    n.extend(np.exp(x))
    c.extend(np.full(len(x), flops))
    loss.extend(3.0 + np.expm1(2 * offset) - 2 * offset)
  n, c, loss = map(np.array, (n, c, loss))
  local = isoflop.approach2(n, c / (6 * n), c, loss, window=1, n_resamples=0)
  assert local.a == pytest.approx(0.5, abs=0.01)
  assert all(len(np.unique(b.n[(b.n >= b.fitted_n[0]) & (b.n <= b.fitted_n[1])])) == 3
             for b in local.budgets)
  whole = isoflop.approach2(n, c / (6 * n), c, loss, window=None, n_resamples=0)
  assert abs(whole.a - 0.5) > 0.03
  assert all(b.fitted_n == (b.n.min(), b.n.max()) for b in whole.budgets)


@pytest.mark.parametrize("arguments, message", [
    (dict(window=0), "window must be None or an integer >= 1, got 0"),
    (dict(window=1.5), "window must be None or an integer >= 1, got 1.5"),
    (dict(loss=np.ones(3)), r"loss must be 1-D and as long as n \(\(36,\)\), got \(3,\)"),
])
def test_bad_arguments_are_errors_naming_the_field(arguments, message):
  n, d, c, loss = _isoflop_runs(np.geomspace(1e18, 1e21, 4))
  arguments = dict(dict(loss=loss), **arguments)
  with pytest.raises(ValueError, match=message):
    isoflop.approach2(n, d, c, n_resamples=10, **arguments)


def test_two_budgets_fit_with_a_warning():
  n, d, c, loss = _isoflop_runs([1e18, 1e20])
  result = isoflop.approach2(n, d, c, loss, n_resamples=10)
  assert result.a == pytest.approx(TRUE_A, abs=0.03)
  assert any("only 2 budgets" in warning for warning in result.warnings)


def test_too_few_budgets_is_an_error():
  n, d, c, loss = _isoflop_runs([1e19])
  with pytest.raises(ValueError, match=">= 2 IsoFLOP budgets"):
    isoflop.approach2(n, d, c, loss, n_resamples=10)


def _chinchilla(shared_data):
  table = observations.Observations.from_csv(
      shared_data / "chinchilla_epoch" / "svg_extracted_data.csv",
      dict(n="Model Size", c="Training FLOP", loss="loss"))
  return table.drop_highest(5).arrays(n="total")


def test_chinchilla_nine_budgets_give_a_near_half(shared_data):
  runs = _chinchilla(shared_data)
  result = isoflop.approach2(runs["n"], runs["d"], runs["c"], runs["loss"],
                             nominal=NOMINAL_CHINCHILLA_BUDGETS, tolerance_decades=0.06,
                             n_resamples=200)
  assert len(result.budgets) == 9
  assert result.a == pytest.approx(0.505, abs=0.015)
  assert result.ci["a"][0] < 0.5 < result.ci["a"][1]


def test_chinchilla_automatic_grouping_gives_a_near_half(shared_data):
  runs = _chinchilla(shared_data)
  result = isoflop.approach2(runs["n"], runs["d"], runs["c"], runs["loss"], n_resamples=100)
  assert result.a == pytest.approx(0.5, abs=0.03)
  assert any("lie on no IsoFLOP budget" in warning for warning in result.warnings)


# Porian et al. 2024's stored `basic` exponents (repo_fit_results.csv) of two settings: the
# Kaplan-like one (summary_df row 0) and the corrected RefinedWeb one (row 4).
PORIAN_BASIC = {0: 0.8337679322841748, 4: 0.49702879549161855}


@pytest.mark.parametrize("row", sorted(PORIAN_BASIC))
def test_porian_settings_match_the_stored_exponents(shared_data, row):
  with open(shared_data / "porian2024_resolving" / "isoflop_points.csv") as handle:
    rows = [r for r in csv.DictReader(handle)
            if r["file"] == "summary_df" and r["row"] == str(row) and r["loss"]]
  n, t, flops, loss = (np.array([float(r[k]) for r in rows]) for k in ("n", "t", "flops", "loss"))
  result = isoflop.approach2(n, t, flops, loss, budget=flops, window=1, n_resamples=200)
  stored = PORIAN_BASIC[row]
  low, high = result.ci["a"]
  assert abs(result.a - stored) <= 0.02 or low <= stored <= high
