"""Tests for the held-out steps' calibration of the extrapolation's held-out runs."""
import types

import numpy as np
import pytest

from analysis.fitting import options as fit_options
from analysis.laws import catalogue
from analysis.report import held_out_steps
from analysis.report import step_types
from analysis.trust import extrapolate
from analysis.trust import rollout

LABEL = "chinchilla/huber"
HALF_WIDTH = np.log(1.001)  # of every bootstrap interval below


def _row(threshold: float, c: float, log_error: float) -> dict:
  """A rollout row split by C: the actual loss 2 under-predicted by `log_error`."""
  predicted = 2.0 * np.exp(-log_error)
  return dict(label=LABEL, threshold=threshold, run=f"c{c:g}", n=1.0, d=1.0, c=c,
              split_distance=float(np.log10(c / threshold)), actual=2.0, predicted=predicted,
              low=predicted / 1.001, high=predicted * 1.001, covered=False)


def test_held_out_runs_are_calibrated_by_the_record_of_the_training_runs_alone():
  # Below the extrapolation's training cutoff (1e11 / 4) every rollout prediction misses by
  # 1%; above it they miss by 50%: a user holding only the training runs never sees those.
  record = [_row(1e9, c, 0.01) for c in (2e9, 5e9, 1e10, 2e10)]
  later = [_row(5e10, c, 0.5) for c in (5e10, 1e11, 2e11)]
  result = rollout.RolloutResult(rows=record + later, fits=[], split_by="c",
                                 thresholds=[1e9, 5e10], level=0.95)
  predicted = 2.0 * np.exp(-np.array([0.02, 0.5]))
  extrapolated = extrapolate.ExtrapolationResult(
      threshold_flops=1e11, n_train=4, gap=4.0, train_max_flops=2e10, heldout_min_flops=1e11,
      heldout_index=np.array([4, 5]), actual=np.array([2.0, 2.0]), predicted=predicted,
      parameter_interval=np.stack([predicted, predicted]),
      prediction_interval=np.stack([predicted / 1.001, predicted * 1.001]), level=0.95,
      fit=None)
  data = types.SimpleNamespace(
      runs={"c": np.array([2e9, 5e9, 1e10, 2e10, 1e11, 2e11])},
      clean=types.SimpleNamespace(run_id=np.array(["a", "b", "c", "d", "held1", "held2"])))
  block = held_out_steps._calibrated_held_out(result, LABEL, extrapolated, data)
  assert block["n_record"] == 4
  distance = np.log10(np.array([1e11, 2e11]) / 2e10)
  np.testing.assert_allclose([run["distance"] for run in block["runs"]], distance)
  # Four rows are too few for a 95% split-conformal rank: the growth is the largest score,
  # that of the shortest distance (log10 2), and no bias is corrected from one threshold.
  growth = np.sqrt(0.01 ** 2 - HALF_WIDTH ** 2) / np.log10(2)
  high = predicted * np.exp(np.sqrt(HALF_WIDTH ** 2 + (growth * distance) ** 2))
  np.testing.assert_allclose([run["high"] for run in block["runs"]], high, rtol=1e-12)
  assert [run["covered"] for run in block["runs"]] == [True, False]
  assert block["coverage"] == 0.5 and [run["run_id"] for run in block["runs"]] == ["held1",
                                                                                  "held2"]
  assert block["mean_abs_relative_error"] == pytest.approx(
      np.mean(np.abs(predicted - 2.0) / 2.0))
  by_n = rollout.RolloutResult(rows=record, fits=[], split_by="n", thresholds=[1e9], level=0.95)
  assert "splits by N" in held_out_steps._calibrated_held_out(by_n, LABEL, extrapolated,
                                                              data)["skipped"]
  assert held_out_steps._calibrated_held_out(result, LABEL, None, data) == dict(
      skipped="no held-out extrapolation")


def test_the_rollout_warns_of_the_bootstrap_refits_that_did_not_converge():
  fits = [dict(label="interaction/huber", threshold=1e10, n_refits=65, n_failed=35),
          dict(label="interaction/huber", threshold=2e10, n_refits=97, n_failed=3),
          dict(label="chinchilla/huber", threshold=1e10, n_refits=100, n_failed=0)]
  rows = [dict(label=fit["label"]) for fit in fits]
  result = rollout.RolloutResult(rows=rows, fits=fits, split_by="c", thresholds=[1e10, 2e10],
                                 level=0.95)
  assert held_out_steps._refit_failures(result) == [
      "rollout: interaction/huber: 38 of 200 bootstrap refits did not converge, in 2 of its "
      "fits; at most 35 of 100 (threshold 1e+10); those intervals rest on the refits that "
      "converged"]


def test_with_checkpoints_the_extrapolation_fits_no_curve_it_holds_out(isoflop_runs):
  runs = isoflop_runs(1e18)  # each run also checkpointed at half its tokens
  n, d, c = (np.concatenate([runs[k], runs[k] * scale]) for k, scale in
             (("n", 1.0), ("d", 0.5), ("c", 0.5)))
  table = dict(n=n, d=d, c=c, loss=catalogue.CHINCHILLA.predict(runs["law"], n=n, d=d))
  curves = np.concatenate([np.arange(24), np.arange(24)]).astype(str)
  data = types.SimpleNamespace(
      runs=table, weights=np.ones(48), conventions={},
      clean=types.SimpleNamespace(run_id=np.arange(48).astype(str), trunk_id=curves))
  trained = {}
  for checkpoints in (False, True):
    settings = step_types.Settings(n_resamples=4, holdout_flops=1e21, checkpoints=checkpoints,
                                   fit_options=fit_options.FitOptions())
    outcome = held_out_steps.extrapolation(data, settings, {})
    trained[checkpoints] = outcome.result.n_train
    assert [run["run_id"] for run in outcome.block["runs"]] == [str(i) for i in range(18, 24)]
  assert trained == {False: 42, True: 36}  # the 1e21 curves' halves no longer train
