"""Tests for Approach 1 (envelope of training curves) and lower envelopes."""
import numpy as np
import pytest

from analysis.approaches import envelope
E, A, B, ALPHA, BETA = 1.69, 406.4, 410.7, 0.34, 0.28


def _curves(sizes, horizons=(10, 40, 160), noise=0.002, seed=0):
  """Runs of each size trained to several token horizons (multiples of N), C = 6ND."""
  rng = np.random.default_rng(seed)
  n, curves = [], []
  for size in sizes:
    for multiple in horizons:
      tokens = np.geomspace(size * 0.5, size * multiple, 30)
      loss = (E + A / size ** ALPHA + B / tokens ** BETA) * np.exp(
          rng.normal(0, noise, len(tokens)))
      n.append(size)
      curves.append((tokens, loss))
  return np.array(n), curves


def test_recovers_optimal_size_exponent():
  n, curves = _curves(np.geomspace(1e7, 3e9, 11))
  result = envelope.approach1(n, 6 * n, curves, n_resamples=100)
  true_a = BETA / (ALPHA + BETA)
  assert result.a == pytest.approx(true_a, abs=0.03)
  assert result.a + result.b == pytest.approx(1.0, abs=1e-9)
  assert result.ci["a"][0] <= result.a <= result.ci["a"][1]
  np.testing.assert_allclose(result.n_opt * result.d_opt * 6, result.flops, rtol=1e-9)
  assert np.all(np.diff(result.envelope_loss) <= 1e-3)


def test_needs_curves_from_enough_sizes():
  n, curves = _curves([1e7, 1e8])
  with pytest.raises(ValueError, match=">= 3 model sizes"):
    envelope.approach1(n, 6 * n, curves, n_resamples=10)
  with pytest.raises(ValueError, match="curves for"):
    envelope.approach1(n, 6 * n, curves[:-1], n_resamples=10)


def test_lower_envelope_against_brute_force():
  rng = np.random.default_rng(0)
  x = rng.uniform(1, 100, 50)
  loss = rng.uniform(2, 4, 50)
  expected = [i for i in range(50) if not np.any((x <= x[i]) & (loss < loss[i]))]
  assert sorted(envelope.lower_envelope(x, loss)) == sorted(expected)
  on_envelope = envelope.lower_envelope(x, loss)
  assert np.all(np.diff(x[on_envelope]) >= 0) and np.all(np.diff(loss[on_envelope]) < 0)
