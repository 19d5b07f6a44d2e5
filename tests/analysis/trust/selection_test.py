"""Tests for choosing among forms, and averaging them, by their held-out record."""
import json

import numpy as np
import pytest

from analysis.trust import calibration
from analysis.trust import rollout
from analysis.trust import selection

GOOD, BAD = "good/huber", "bad/huber"
# ln(predicted / actual) of each form on every run: the good form is 5 times closer.
LOG_ERRORS = {GOOD: 0.01, BAD: 0.05}


def _result():
  """A rollout split by N at thresholds 2, 3, 4 over runs of N = 1, 2, 3, 4 (actual loss 2):
  at each threshold every run at or above it is predicted by both forms."""
  rows = []
  for label, error in LOG_ERRORS.items():
    for threshold in (2.0, 3.0, 4.0):
      for n in (2.0, 3.0, 4.0):
        if n < threshold:
          continue
        predicted = 2.0 * np.exp(error)
        rows.append(dict(label=label, threshold=threshold, run=f"n{n:g}", n=n, d=20 * n,
                         c=120 * n * n, split_distance=float(np.log10(n / (threshold - 1))),
                         actual=2.0, predicted=predicted, low=predicted * 0.999,
                         high=predicted * 1.001, covered=False))
  return rollout.RolloutResult(rows=rows, fits=[], split_by="n", thresholds=[2.0, 3.0, 4.0],
                               level=0.9)


def test_record_below_holds_only_runs_below_the_threshold():
  record = _result().record_below(4.0)
  assert {(r["threshold"], r["run"]) for r in record} == {
      (2.0, "n2"), (2.0, "n3"), (3.0, "n3")}
  assert all(r["n"] < 4.0 for r in record)


def test_chooser_takes_the_form_with_the_better_record_and_the_baseline_without_one():
  chosen = selection.select(_result(), baseline=BAD)
  by_threshold = {t: {r["chosen"] for r in chosen.rows if r["threshold"] == t}
                  for t in chosen.thresholds}
  assert by_threshold == {2.0: {BAD}, 3.0: {GOOD}, 4.0: {GOOD}}
  assert [r["from_record"] for r in chosen.rows if r["threshold"] == 2.0] == [False] * 3
  summary = chosen.summary()
  assert summary["best_single"] == GOOD
  # Thresholds weigh equally: the chooser is the bad form at the first and the good one after.
  assert summary["scores"]["chosen"] == pytest.approx((0.05 + 0.01 + 0.01) / 3)
  assert summary["scores"][GOOD] == pytest.approx(0.01)
  assert json.loads(json.dumps(chosen.to_json()))["summary"]["best_single"] == GOOD


def test_averager_weighs_forms_by_inverse_mean_squared_log_error():
  chosen = selection.select(_result(), baseline=GOOD)
  inverse = {label: 1 / error ** 2 for label, error in LOG_ERRORS.items()}
  weights = {label: value / sum(inverse.values()) for label, value in inverse.items()}
  expected = 2.0 * np.exp(sum(weights[label] * error for label, error in LOG_ERRORS.items()))
  for row in chosen.rows:
    if row["threshold"] == 2.0:
      assert row["weights"] == {GOOD: 1.0} and row["averaged_predicted"] == pytest.approx(
          2.0 * np.exp(0.01))
    else:
      assert row["weights"] == pytest.approx(weights)
      assert row["averaged_predicted"] == pytest.approx(expected)


def test_a_form_that_failed_in_the_record_weighs_nothing():
  result = _result()
  for row in result.rows:
    if row["label"] == BAD and row["threshold"] == 2.0:
      row["predicted"] = float("nan")
  chosen = selection.select(result, baseline=BAD)
  later = [r for r in chosen.rows if r["threshold"] > 2.0]
  assert all(r["chosen"] == GOOD and r["weights"][BAD] == 0.0 for r in later)
  with pytest.raises(ValueError, match="baseline"):
    selection.select(result, baseline="missing/huber")


def test_out_of_sample_calibration_reads_only_the_record_below_each_threshold():
  rows = calibration.out_of_sample(_result(), GOOD)
  assert [r["n_record"] for r in rows] == [0, 0, 0, 1, 1, 3]
  first = rows[0]
  assert (first["calibrated_low"], first["calibrated_high"]) == pytest.approx(
      (first["low"], first["high"]))
  for row in rows[3:]:
    assert row["calibrated_covered"] == (row["calibrated_low"] <= row["actual"]
                                         <= row["calibrated_high"])
    assert row["calibrated_high"] - row["calibrated_low"] > row["high"] - row["low"]
