"""Tests for the analysis steps that need no law fitted: Approach 1 from curves, the table's
budgets and the prediction noise."""
import types

import numpy as np
import pytest

from analysis.laws import catalogue
from analysis.report import pipeline
from analysis.report import steps
from analysis.report import step_types
from analysis.table import observations

LAW = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)


def test_approach1_from_a_sweep_with_curves(sweep_with_curves):
  table = sweep_with_curves(np.geomspace(1e7, 3e9, 9))
  result, reason = steps.approach1_from_curves(table, table.arrays(), n_resamples=20,
                                               level=0.9, seed=0)
  assert reason == ""
  assert result.a == pytest.approx(0.28 / (0.34 + 0.28), abs=0.03)
  exact, _ = steps.approach1_from_curves(table, table.arrays(c="exact"), n_resamples=0,
                                         level=0.9, seed=0)
  # 7 FLOPs per parameter-token instead of 6 shifts compute, not the exponent.
  assert exact.a == pytest.approx(result.a, abs=0.02)
  np.testing.assert_allclose(exact.n_opt * exact.d_opt * 7, exact.flops, rtol=1e-9)


def test_approach1_is_skipped_with_the_reason(tmp_path, sweep_with_curves):
  table = sweep_with_curves(np.geomspace(1e7, 3e9, 4))
  (tmp_path / "n1e+07_x10.jsonl").unlink()
  result, reason = steps.approach1_from_curves(table, table.arrays(), n_resamples=5,
                                               level=0.9, seed=0)
  assert result is None and "1 curve file(s) missing" in reason
  no_curves = observations.Observations.from_columns(n_total=[1.0], d=[1.0], loss=[1.0])
  assert "no per-run eval curves" in steps.approach1_from_curves(
      no_curves, no_curves.arrays(), n_resamples=5, level=0.9, seed=0)[1]


def _prepared(n: np.ndarray, d: np.ndarray, loss: np.ndarray) -> step_types.Prepared:
  table = observations.Observations.from_columns(n_total=n, d=d, loss=loss)
  return pipeline.prepare(table, step_types.Settings(), n_convention="total", c_convention="6nd")


def test_table_budgets_default_to_decades_above_the_largest_run():
  n = np.geomspace(1e7, 1e9, 8)
  # The largest run: 6 * 1e9 * 5.6e9 = 3.36e19 FLOPs.
  data = _prepared(n, np.geomspace(1e9, 5.6e9, 8), np.linspace(3.0, 2.5, 8))
  assert steps.table_budgets(data, step_types.Settings()) == [3e19, 3e20, 3e21, 3e22]
  assert steps.table_budgets(data, step_types.Settings(table_flops=[1e22])) == [1e22]


def test_prediction_noise_is_the_seed_sd_or_else_the_fit_residuals():
  n = np.geomspace(1e7, 1e9, 8)
  d = 20 * n
  loss = (1.69 + 406.4 / n ** 0.34 + 410.7 / d ** 0.28) * np.exp(np.linspace(-0.02, 0.02, 8))
  fitted = types.SimpleNamespace(form=catalogue.CHINCHILLA, params=LAW)
  runs = dict(n=n, d=d, loss=loss)
  assert steps.prediction_noise(fitted, runs, 0.013) == 0.013
  np.testing.assert_allclose(steps.prediction_noise(fitted, runs, None),
                             -np.linspace(-0.02, 0.02, 8), atol=1e-12)


def test_single_variable_laws_of_a_ladder_resample_the_trunks_of_their_envelope():
  # Four trunks with four branches each: the envelopes hold a few runs, and each law's
  # bootstrap draws whole trunks among those runs only.
  n = np.repeat(np.geomspace(1e6, 8e6, 4), 4)
  d = np.tile(np.geomspace(2e7, 1.6e8, 4), 4)
  loss = 1.69 + 406.4 / n ** 0.34 + 410.7 / d ** 0.28
  table = observations.Observations.from_columns(
      n_total=n, d=d, loss=loss, trunk_id=[f"trunk{int(size)}" for size in n])
  settings = step_types.Settings(n_resamples=10)
  data = pipeline.prepare(table, settings, n_convention="total", c_convention="6nd")
  outcome = steps._single_variable(data, settings, {})
  assert set(outcome.block) == {"n", "d", "c"}
  for variable, block in outcome.block.items():
    assert "skipped" not in block, (variable, block)
  assert set(outcome.result) == {"n", "d", "c"}
