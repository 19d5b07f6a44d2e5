"""Tests for data/splits.py."""
import pytest

from data import splits


def test_fraction_seed_and_stability():
  keys = [f"doc-{i}" for i in range(20_000)]
  chosen = {k for k in keys if splits.is_validation(k, 0, 0.1)}
  assert len(chosen) / len(keys) == pytest.approx(0.1, abs=0.01)
  assert chosen == {k for k in keys if splits.is_validation(k, 0, 0.1)}
  other_seed = {k for k in keys if splits.is_validation(k, 1, 0.1)}
  assert len(chosen & other_seed) < 0.2 * len(chosen)
  assert chosen <= {k for k in keys if splits.is_validation(k, 0, 0.2)}
