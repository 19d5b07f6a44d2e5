"""Tests for prediction intervals, at given inputs and at the compute-optimal point."""
import numpy as np
import pytest

from analysis.fitting import bootstrap
from analysis.fitting import fit
from analysis.laws import catalogue
from analysis.trust import intervals
from analysis.approaches import optimal

TRUE = dict(E=1.8, A=480.0, B=2100.0, alpha=0.35, beta=0.37)


def _boot(raw_rows, form=catalogue.CHINCHILLA, level=0.8):
  raw_rows = np.asarray(raw_rows, np.float64)
  return bootstrap.BootstrapResult(form=form, samples={}, ci={}, level=level, n_failed=0,
                                   n_resamples=len(raw_rows), raw=raw_rows, seconds=0.0)


def test_without_noise_the_new_run_interval_is_the_parameter_interval():
  rng = np.random.default_rng(0)
  raw = catalogue.CHINCHILLA.to_raw(TRUE) + rng.normal(0, 0.01, (50, 5))
  band = intervals.prediction_interval(_boot(raw), dict(n=np.array([1e8]), d=np.array([2e9])),
                                       noise=0.0)
  np.testing.assert_allclose(band.low, band.parameter_low, rtol=1e-12)
  np.testing.assert_allclose(band.high, band.parameter_high, rtol=1e-12)
  assert band.parameter_low[0] < band.median[0] < band.parameter_high[0]


def test_resampled_residuals_shift_by_minus_the_residual():
  raw = catalogue.CHINCHILLA.to_raw(TRUE)[None]
  inputs = dict(n=np.array([1e8, 1e9]), d=np.array([2e9, 2e10]))
  band = intervals.prediction_interval(_boot(raw), inputs, noise=np.array([0.1, 0.1]))
  expected = catalogue.CHINCHILLA.predict(TRUE, **inputs) * np.exp(-0.1)
  np.testing.assert_allclose(band.low, expected, rtol=1e-12)
  np.testing.assert_allclose(band.high, expected, rtol=1e-12)
  assert band.covers(expected).all() and not band.covers(expected * 1.01).any()
  summary = band.to_json()
  assert summary["n_refits"] == 1 and summary["low"] == pytest.approx(list(expected))


def test_wider_noise_gives_a_wider_interval_and_bad_noise_is_an_error():
  raw = catalogue.CHINCHILLA.to_raw(TRUE)[None]
  inputs = dict(n=np.array([1e8]), d=np.array([2e9]))
  narrow = intervals.prediction_interval(_boot(raw), inputs, noise=0.01)
  wide = intervals.prediction_interval(_boot(raw), inputs, noise=0.05)
  assert wide.high[0] - wide.low[0] > 3 * (narrow.high[0] - narrow.low[0])
  with pytest.raises(ValueError, match="sd must be"):
    intervals.prediction_interval(_boot(raw), inputs, noise=-1.0)
  with pytest.raises(ValueError, match="non-empty finite"):
    intervals.prediction_interval(_boot(raw), inputs, noise=np.array([np.nan]))


def test_compute_optimal_interval_brackets_the_optimal_loss():
  rng = np.random.default_rng(1)
  raw = catalogue.CHINCHILLA.to_raw(TRUE) + rng.normal(0, 0.02, (40, 5))
  flops = np.geomspace(1e19, 1e23, 4)
  band = intervals.compute_optimal_interval(_boot(raw, level=0.9), flops, noise=0.01)
  _, _, loss = optimal.optimal_point(catalogue.CHINCHILLA, TRUE, flops)
  assert np.all(band.low < loss) and np.all(loss < band.high)
  assert np.all(band.low <= band.parameter_low) and np.all(band.parameter_high <= band.high)
  assert np.all(np.diff(band.median) < 0)


def test_compute_optimal_interval_is_the_percentiles_of_each_refits_optimal_loss():
  """Chinchilla's optimum in closed form (Hoffmann et al. 2022, Eq. 4) for each refit."""
  rng = np.random.default_rng(2)
  raw = catalogue.CHINCHILLA.to_raw(TRUE) + rng.normal(0, 0.02, (30, 5))
  flops = np.array([1e20, 1e23])
  band = intervals.compute_optimal_interval(_boot(raw, level=0.9), flops, noise=0.0)
  e, a, b = (np.exp(raw[:, i, None]) for i in range(3))
  alpha, beta = raw[:, 3, None], raw[:, 4, None]
  scale = (alpha * a / (beta * b)) ** (1 / (alpha + beta))
  n = scale * (flops / 6) ** (beta / (alpha + beta))
  d = flops / (6 * n)
  loss = e + a / n**alpha + b / d**beta
  np.testing.assert_allclose(band.parameter_low, np.quantile(loss, 0.05, axis=0), rtol=1e-12)
  np.testing.assert_allclose(band.parameter_high, np.quantile(loss, 0.95, axis=0), rtol=1e-12)
  np.testing.assert_allclose(band.median, np.median(loss, axis=0), rtol=1e-12)


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
    loss = catalogue.CHINCHILLA.predict(TRUE, n=n, d=d) * np.exp(rng.normal(0, noise_sd, n.size))
    fitted = fit.fit(catalogue.CHINCHILLA, dict(n=n, d=d), loss)
    resampled = bootstrap.bootstrap(catalogue.CHINCHILLA, dict(n=n, d=d), loss, n_resamples=20,
                                    level=level, seed=repetition,
                                    init_grid=fitted.survivors)
    band = intervals.prediction_interval(resampled, dict(n=new_n, d=new_d), noise=noise_sd,
                                         seed=repetition)
    new_loss = catalogue.CHINCHILLA.predict(TRUE, n=new_n, d=new_d) * np.exp(
        rng.normal(0, noise_sd, new_n.size))
    hits.extend(band.covers(new_loss))
  trials = len(hits)
  tolerance = 3 * np.sqrt(level * (1 - level) / trials)
  assert abs(np.mean(hits) - level) < tolerance, (np.mean(hits), trials)
