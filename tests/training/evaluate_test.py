"""Tests for training/evaluate.py (the eval step itself is covered by tests/train_test.py)."""
import numpy as np
import pytest

from training import evaluate


def test_bin_by_position_averages_equal_width_bins():
  losses = np.arange(128, dtype=np.float64)
  binned = evaluate.bin_by_position(losses, max_points=64)
  assert binned["bin_width"] == 2 and len(binned["loss"]) == 64
  assert binned["position"][:3] == [0, 2, 4]
  assert binned["loss"][:2] == [0.5, 2.5]


def test_bin_by_position_short_context_and_ragged_last_bin():
  assert evaluate.bin_by_position(np.ones(10))["loss"] == [1.0] * 10
  binned = evaluate.bin_by_position(np.arange(5.0), max_points=2)
  assert binned == {"position": [0, 3], "bin_width": 3, "loss": [1.0, 3.5]}


def test_evaluate_averages_over_sequences():
  batches = [np.ones((2, 5)), np.ones((4, 5))]
  step = lambda params, batch: np.full(4, float(batch.shape[0]) * params)
  result = evaluate.evaluate(step, 3.0, batches)
  assert result.loss == pytest.approx(3.0) and result.tokens == 24
  with pytest.raises(ValueError, match="eval_tokens"):
    evaluate.evaluate(step, 1.0, [])
