"""Tests for rollout model selection (uses the Approach-3 fit and warm-started bootstraps)."""
import csv
import json

import numpy as np
import pytest

from analysis.laws import catalogue
from analysis.trust import rollout
from analysis.fitting import options as fit_options

TRUE = dict(E=1.8, A=480.0, B=2100.0, alpha=0.35, beta=0.37)


def _runs(noise=0.005, seed=0):
  """Six sizes x four tokens-per-parameter ratios from TRUE with log-noise."""
  rng = np.random.default_rng(seed)
  n = np.repeat(np.geomspace(2e7, 2e9, 6), 4)
  d = n * np.tile([5.0, 10.0, 20.0, 40.0], 6)
  loss = catalogue.CHINCHILLA.predict(TRUE, n=n, d=d) * np.exp(rng.normal(0, noise, n.size))
  return dict(n=n, d=d, c=6 * n * d, loss=loss)


def test_default_thresholds_leave_enough_runs_and_sizes():
  n = np.repeat([1.0, 2.0, 3.0, 4.0, 5.0], 3) * 1e7
  d = np.tile([1.0, 2.0, 4.0], 5) * 1e9
  runs = dict(n=n, d=d)
  assert rollout.default_thresholds(runs, "n", min_train=8) == [4e7, 5e7]
  assert rollout.default_thresholds(runs, "n", min_train=2) == [4e7, 5e7]
  assert rollout.default_thresholds(runs, "n", min_train=2, min_distinct=1) == [
      2e7, 3e7, 4e7, 5e7]


def test_default_thresholds_take_one_per_level_of_compute():
  """IsoFLOP budgets whose runs' compute differs by rounding give one threshold each."""
  n = np.tile([1e6, 2e6, 4e6, 8e6], 3)
  budgets = np.repeat([1e15, 1e16, 1e17], 4)
  c = budgets * (1 + 0.01 * np.tile([0.0, 1.0, 2.0, 3.0], 3))
  runs = dict(n=n, d=c / (6 * n), c=c)
  assert rollout.default_thresholds(runs, "c", min_train=8) == [pytest.approx(1e17)]
  assert rollout.default_thresholds(runs, "c", min_train=4) == [pytest.approx(1e16),
                                                               pytest.approx(1e17)]


def test_warm_started_refits_reach_the_full_grid_optimum():
  runs = _runs()
  inputs, weights = dict(n=runs["n"], d=runs["d"]), np.ones(runs["loss"].size)
  fitted = fit_options.fit(fit_options.FitOptions(), inputs, runs["loss"], weights)
  warm, full = (fit_options.resample(fitted, inputs, runs["loss"], weights, n_resamples=4,
                                     level=0.95, seed=3, warm_start=warm_start)
                for warm_start in (True, False))
  assert warm.n_failed == full.n_failed == 0
  for name in ("E", "A", "B", "alpha", "beta"):
    np.testing.assert_allclose(warm.samples[name], full.samples[name], rtol=1e-4)


def test_rollout_ranks_the_true_form_above_a_misspecified_one():
  runs = _runs()
  options = fit_options.FitOptions(rollout_forms=("chinchilla", "single_variable_n"),
                                   rollout_split="n", rollout_resamples=8)
  result = rollout.rollout(runs, options, level=0.9, run_ids=[f"run{i}" for i in range(24)])
  assert result.thresholds == pytest.approx(list(np.geomspace(2e7, 2e9, 6)[3:]))
  rows = [r for r in result.rows if r["label"] == "chinchilla/huber"]
  # 12 + 8 + 4 held-out runs over the three thresholds.
  assert len(rows) == 24 and {r["run"] for r in rows} >= {"run23"}
  for row in rows:
    assert row["relative_error"] == pytest.approx(row["predicted"] / row["actual"] - 1)
    assert row["covered"] == (row["low"] <= row["actual"] <= row["high"])
    largest_train_flops = np.max(runs["c"][runs["n"] < row["threshold"]])
    assert row["distance"] == pytest.approx(np.log10(row["c"] / largest_train_flops))
  assert np.mean([abs(r["relative_error"]) for r in rows]) < 0.05
  recommendation = result.recommend()
  assert recommendation["best"] == "chinchilla/huber"
  assert recommendation["runner_up"] == "single_variable_n/huber"
  assert recommendation["wins"] == 3 and recommendation["p_value"] < 0.01
  assert recommendation["statement"].startswith("chinchilla/huber: best at 3 of 3 thresholds")
  table = {entry["label"]: entry for entry in result.table()}
  coverage = np.mean([r["covered"] for r in rows])
  assert table["chinchilla/huber"]["coverage"] == pytest.approx(coverage)
  assert sum(b["n"] for b in table["chinchilla/huber"]["by_distance"].values()) == 24
  assert len(table["chinchilla/huber"]["final_split"]) == 4
  assert json.loads(json.dumps(result.to_json()))["recommendation"]["best"] == "chinchilla/huber"


def test_full_grid_refits_give_the_same_rows_on_a_well_posed_grid():
  runs = _runs()
  options = fit_options.FitOptions(rollout_forms=("chinchilla",), rollout_split="n",
                                   rollout_thresholds=(2e9,), rollout_resamples=4)
  warm = rollout.rollout(runs, options)
  full = rollout.rollout(runs, options, warm_start=False)
  for warm_row, full_row in zip(warm.rows, full.rows):
    assert warm_row["predicted"] == full_row["predicted"]
    assert warm_row["low"] == pytest.approx(full_row["low"], rel=1e-4)
    assert warm_row["high"] == pytest.approx(full_row["high"], rel=1e-4)


@pytest.mark.parametrize("options, message", [
    (dict(rollout_split="d"), "rollout_split"),
    (dict(rollout_thresholds=(2e7,)), "leaves 0 runs"),
    (dict(rollout_forms=()), "at least one form"),
    (dict(rollout_objectives=("huber", "huber")), "repeat"),
])
def test_bad_options_are_errors(options, message):
  options = fit_options.FitOptions(**dict(rollout_forms=("chinchilla",), rollout_resamples=2)
                                   | options)
  with pytest.raises(ValueError, match=message):
    rollout.rollout(_runs(), options)


@pytest.mark.slow
def test_gadre_c4_holdout_of_the_billion_parameter_runs(shared_data):
  with open(shared_data / "gadre2024_overtraining" / "models_flat.csv") as file:
    rows = [row for row in csv.DictReader(file) if row["dataset"] == "c4_original"]
  assert len(rows) == 34
  n = np.array([float(row["params"]) for row in rows])
  d = np.array([float(row["tokens"]) for row in rows])
  assert np.sum(n < 1e9) == 31
  for column in ("loss_openlm", "loss_c4_val"):
    loss = np.array([float(row[column]) for row in rows])
    options = fit_options.FitOptions(rollout_split="n", rollout_thresholds=(1e9,),
                                     rollout_resamples=10)
    result = rollout.rollout(dict(n=n, d=d, c=6 * n * d, loss=loss), options,
                             run_ids=[row["name"] for row in rows])
    for label in ("chinchilla/huber", "overtraining/huber"):
      held_out = [r for r in result.rows if r["label"] == label]
      assert len(held_out) == 3
      assert any(r["n"] == pytest.approx(6.89e9, rel=1e-3) for r in held_out)
      errors = np.array([r["relative_error"] for r in held_out])
      assert np.all(np.isfinite(errors)) and np.all(np.abs(errors) < 0.2), (column, label, errors)
