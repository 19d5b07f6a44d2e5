"""Tests for prediction intervals and compute-optimal points."""
import numpy as np
import pytest

from analysis.fitting import bootstrap
from analysis.fitting import fit
from analysis.laws import forms
from analysis.trust import intervals
from analysis.approaches import optimal
TRUE = dict(E=1.8, A=480.0, B=2100.0, alpha=0.35, beta=0.37)
EQUAL = dict(E=1.8, A=480.0, B=2100.0, alpha=0.3, beta=0.3)


def _boot(raw_rows, form=forms.CHINCHILLA, level=0.8):
  raw_rows = np.asarray(raw_rows, np.float64)
  return bootstrap.BootstrapResult(form=form, samples={}, ci={}, level=level, n_failed=0,
                                   n_resamples=len(raw_rows), raw=raw_rows, seconds=0.0)


def test_predict_raw_matches_the_form():
  n, d = np.array([1e7, 1e8, 1e9]), np.array([1e9, 3e9, 2e10])
  second = dict(TRUE, E=2.0)
  raw = np.stack([forms.CHINCHILLA.to_raw(TRUE), forms.CHINCHILLA.to_raw(second)])
  predictions = intervals.predict_raw(forms.CHINCHILLA, raw, dict(n=n, d=d))
  np.testing.assert_allclose(predictions[0], forms.CHINCHILLA.predict(TRUE, n=n, d=d), rtol=1e-12)
  np.testing.assert_allclose(predictions[1], forms.CHINCHILLA.predict(second, n=n, d=d),
                             rtol=1e-12)


def test_without_noise_the_new_run_interval_is_the_parameter_interval():
  rng = np.random.default_rng(0)
  raw = forms.CHINCHILLA.to_raw(TRUE) + rng.normal(0, 0.01, (50, 5))
  band = intervals.prediction_interval(_boot(raw), dict(n=np.array([1e8]), d=np.array([2e9])),
                                       noise=0.0)
  np.testing.assert_allclose(band.low, band.parameter_low, rtol=1e-12)
  np.testing.assert_allclose(band.high, band.parameter_high, rtol=1e-12)
  assert band.parameter_low[0] < band.median[0] < band.parameter_high[0]


def test_resampled_residuals_shift_by_minus_the_residual():
  raw = forms.CHINCHILLA.to_raw(TRUE)[None]
  inputs = dict(n=np.array([1e8, 1e9]), d=np.array([2e9, 2e10]))
  band = intervals.prediction_interval(_boot(raw), inputs, noise=np.array([0.1, 0.1]))
  expected = forms.CHINCHILLA.predict(TRUE, **inputs) * np.exp(-0.1)
  np.testing.assert_allclose(band.low, expected, rtol=1e-12)
  np.testing.assert_allclose(band.high, expected, rtol=1e-12)
  assert band.covers(expected).all() and not band.covers(expected * 1.01).any()
  summary = band.to_json()
  assert summary["n_refits"] == 1 and summary["low"] == pytest.approx(list(expected))


def test_wider_noise_gives_a_wider_interval_and_bad_noise_is_an_error():
  raw = forms.CHINCHILLA.to_raw(TRUE)[None]
  inputs = dict(n=np.array([1e8]), d=np.array([2e9]))
  narrow = intervals.prediction_interval(_boot(raw), inputs, noise=0.01)
  wide = intervals.prediction_interval(_boot(raw), inputs, noise=0.05)
  assert wide.high[0] - wide.low[0] > 3 * (narrow.high[0] - narrow.low[0])
  with pytest.raises(ValueError, match="sd must be"):
    intervals.prediction_interval(_boot(raw), inputs, noise=-1.0)
  with pytest.raises(ValueError, match="non-empty finite"):
    intervals.prediction_interval(_boot(raw), inputs, noise=np.array([np.nan]))


def test_optimal_point_matches_the_chinchilla_closed_form():
  flops = np.geomspace(1e18, 1e24, 7)
  n_opt, d_opt, loss = intervals.optimal_point(forms.CHINCHILLA, TRUE, flops)
  n_closed, d_closed = optimal.chinchilla_allocation(TRUE, flops)
  np.testing.assert_allclose(n_opt, n_closed, rtol=1e-5)
  np.testing.assert_allclose(d_opt, d_closed, rtol=1e-5)
  np.testing.assert_allclose(6 * n_opt * d_opt, flops, rtol=1e-10)
  np.testing.assert_allclose(loss, forms.CHINCHILLA.predict(TRUE, n=n_closed, d=d_closed),
                             rtol=1e-10)


def test_optimal_point_of_the_overtraining_form_matches_the_equal_exponent_closed_form():
  """L(C, M) = E + (a M^eta + b M^-eta) C^-eta is Chinchilla with alpha = beta = 2 eta."""
  flops = np.geomspace(1e19, 1e23, 5)
  eta = EQUAL["alpha"] / 2
  params = dict(E=EQUAL["E"], a=EQUAL["A"] * 6**eta, b=EQUAL["B"] * 6**eta, eta=eta)
  n_opt, d_opt, loss = intervals.optimal_point(forms.OVERTRAINING, params, flops)
  n_closed, d_closed = optimal.chinchilla_allocation(EQUAL, flops)
  np.testing.assert_allclose(n_opt, n_closed, rtol=1e-5)
  np.testing.assert_allclose(d_opt, d_closed, rtol=1e-5)
  np.testing.assert_allclose(loss, forms.CHINCHILLA.predict(EQUAL, n=n_closed, d=d_closed),
                             rtol=1e-10)


def test_optimal_point_of_a_compute_form_is_the_form_at_c():
  form = forms.single_variable("c")
  params = dict(E=1.7, A=3e3, alpha=0.15)
  flops = np.array([1e20, 1e22])
  n_opt, d_opt, loss = intervals.optimal_point(form, params, flops)
  assert np.isnan(n_opt).all() and np.isnan(d_opt).all()
  np.testing.assert_allclose(loss, form.predict(params, c=flops), rtol=1e-12)
  with pytest.raises(ValueError, match="compute-optimal"):
    intervals.optimal_point(forms.single_variable("n"), params, flops)


def test_compute_optimal_interval_brackets_the_optimal_loss():
  rng = np.random.default_rng(1)
  raw = forms.CHINCHILLA.to_raw(TRUE) + rng.normal(0, 0.02, (40, 5))
  flops = np.geomspace(1e19, 1e23, 4)
  band = intervals.compute_optimal_interval(_boot(raw, level=0.9), flops, noise=0.01)
  _, _, loss = intervals.optimal_point(forms.CHINCHILLA, TRUE, flops)
  assert np.all(band.low < loss) and np.all(loss < band.high)
  assert np.all(band.low <= band.parameter_low) and np.all(band.parameter_high <= band.high)
  assert np.all(np.diff(band.median) < 0)


@pytest.mark.slow
def test_new_run_intervals_cover_at_about_their_level():
  """Fit + bootstrap on noisy grids from a known law; a new run's loss falls inside at ~80%."""
  level, noise_sd, repetitions = 0.8, 0.02, 40
  n = np.repeat(np.geomspace(2e7, 1e9, 6), 4)
  d = n * np.tile([5.0, 10.0, 20.0, 40.0], 6)
  new_n = np.geomspace(3e7, 2e9, 5)
  new_d = new_n * np.array([8.0, 30.0, 12.0, 25.0, 20.0])
  rng = np.random.default_rng(0)
  hits = []
  for repetition in range(repetitions):
    loss = forms.CHINCHILLA.predict(TRUE, n=n, d=d) * np.exp(rng.normal(0, noise_sd, n.size))
    fitted = fit.fit(forms.CHINCHILLA, dict(n=n, d=d), loss)
    resampled = bootstrap.bootstrap(forms.CHINCHILLA, dict(n=n, d=d), loss, n_resamples=20,
                                    level=level, seed=repetition,
                                    init_grid=fitted.survivors)
    band = intervals.prediction_interval(resampled, dict(n=new_n, d=new_d), noise=noise_sd,
                                         seed=repetition)
    new_loss = forms.CHINCHILLA.predict(TRUE, n=new_n, d=new_d) * np.exp(
        rng.normal(0, noise_sd, new_n.size))
    hits.extend(band.covers(new_loss))
  trials = len(hits)
  tolerance = 3 * np.sqrt(level * (1 - level) / trials)
  assert abs(np.mean(hits) - level) < tolerance, (np.mean(hits), trials)
