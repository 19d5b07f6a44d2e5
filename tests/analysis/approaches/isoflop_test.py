"""Tests for Approach 2 (IsoFLOP parabolas)."""
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


def test_warns_on_edge_minimum_and_excludes_small_budgets():
  n, d, c, loss = _isoflop_runs(np.geomspace(1e18, 1e20, 3), shift=6.0)
  small_n, small_d, small_c, small_loss = _isoflop_runs([1e22], sizes_per_budget=2)
  result = isoflop.approach2(np.concatenate([n, small_n]), np.concatenate([d, small_d]),
                             np.concatenate([c, small_c]), np.concatenate([loss, small_loss]),
                             budget=np.concatenate([c, small_c]), n_resamples=50)
  text = "\n".join(result.warnings)
  assert "1e+22 FLOPs excluded: 2 distinct sizes" in text
  assert text.count("edge of the sampled sizes") == 3
  assert all(budget.at_edge for budget in result.budgets)


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
