"""Tests for held-out extrapolation (uses the Approach-3 fit and bootstrap)."""
import numpy as np
import pytest

from analysis.trust import extrapolate
from analysis.laws import forms
from analysis.fitting import objectives
from analysis.fitting import options as fit_options

TRUE = dict(E=1.8, A=480.0, B=2100.0, alpha=0.35, beta=0.37)


def _runs(noise=0.003, seed=0):
  """Four IsoFLOP budgets x 6 sizes around the optimum, loss from TRUE with log-noise.

  The same shapes as the report tests' table, so one compiled search serves both.
  """
  rng = np.random.default_rng(seed)
  n, c = [], []
  for flops in np.geomspace(1e18, 1e21, 4):
    optimum = 0.6 * (flops / 6) ** 0.5
    n.extend(np.geomspace(optimum / 5, optimum * 5, 6))
    c.extend([flops] * 6)
  n, c = np.array(n), np.array(c)
  d = c / (6 * n)
  loss = (TRUE["E"] + TRUE["A"] / n ** TRUE["alpha"] + TRUE["B"] / d ** TRUE["beta"]) * np.exp(
      rng.normal(0, noise, len(n)))
  return n, d, c, loss


def test_default_threshold_holds_out_the_largest_budget():
  _, _, c, _ = _runs()
  assert extrapolate.default_threshold(c) == pytest.approx(1e21)
  assert extrapolate.default_threshold(c[c < 2e19]) is None


@pytest.mark.slow
def test_small_error_and_intervals_cover_the_truth():
  n, d, c, loss = _runs()
  result = extrapolate.extrapolate(fit_options.FitOptions(), dict(n=n, d=d), loss, c, 5e20,
                                   n_resamples=6, level=0.95)
  assert result.n_train == 18 and len(result.actual) == 6
  np.testing.assert_array_equal(result.heldout_index, np.arange(18, 24))
  assert np.mean(np.abs(result.relative_error)) < 0.01
  assert np.mean(result.covered) >= 0.5
  assert np.all(result.prediction_interval[0] < result.prediction_interval[1])
  summary = result.to_json()
  assert summary["n_heldout"] == 6 and len(summary["runs"]) == 6
  assert summary["prediction_interval_coverage"] == pytest.approx(np.mean(result.covered))


def test_predict_samples_matches_the_form_one_sample_at_a_time():
  n, d, _, _ = _runs()
  samples = {name: np.array([value, value * 1.1]) for name, value in TRUE.items()}
  predictions = extrapolate.predict_samples(forms.CHINCHILLA, samples, dict(n=n, d=d))
  for row in range(2):
    params = {name: values[row] for name, values in samples.items()}
    np.testing.assert_allclose(predictions[row], forms.CHINCHILLA.predict(params, n=n, d=d),
                               rtol=1e-12)


@pytest.mark.parametrize("threshold, message", [(1e22, "no run at or above"),
                                                (1e18, "raise it")])
def test_unusable_thresholds_are_errors(threshold, message):
  n, d, c, loss = _runs()
  with pytest.raises(ValueError, match=message):
    extrapolate.extrapolate(fit_options.FitOptions(), dict(n=n, d=d), loss, c, threshold,
                            n_resamples=5)


def test_objective_bounds_and_weights_reach_the_fit():
  n, d, c, loss = _runs()
  weights = np.ones(len(loss))
  weights[0] = 0.0
  options = fit_options.FitOptions(law=f"chinchilla[E={TRUE['E']}]",
                                   objective=objectives.Objective(kind="squared"))
  result = extrapolate.extrapolate(options, dict(n=n, d=d), loss, c, 5e20, n_resamples=4,
                                   weights=weights)
  block = result.fit.to_json()
  assert block["criterion"]["kind"] == "squared"
  assert result.fit.params["E"] == TRUE["E"]
  assert block["bounds"]["alpha"] == [0.0, 3.0]
  assert block["diagnostics"]["n_points"] == result.n_train - 1
