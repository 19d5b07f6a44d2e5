"""Prediction intervals for a fitted law, at given inputs or at the compute-optimal point of C.

Two intervals come from the same bootstrap refits (`analysis.fitting.bootstrap.BootstrapResult`):
  * the parameter interval: the spread of each refit's predicted loss, i.e. the uncertainty of
    the law's MEAN loss at a point;
  * the prediction interval: each refit's prediction with residual noise added, i.e. where the
    loss of ONE NEW RUN at that point is expected to fall. The noise is either resampled from
    log residuals (e.g. the fit's own training residuals) or drawn from a Gaussian in log space
    with a given standard deviation (e.g. the seed-to-seed spread of repeated runs).
Residual convention: r = log(predicted loss) - log(observed loss), natural log, so a new run's
loss is the prediction times exp(-r). Losses are in nats/token; both intervals are percentile
intervals at `level`.

At budgets C (FLOPs) `compute_optimal_interval` evaluates every refit at its own compute-optimal
point (`approaches.optimal.optimal_raw`).
"""
from collections.abc import Mapping
import dataclasses
from typing import Any

import numpy as np

from analysis.approaches import optimal
from analysis.fitting import bootstrap as bootstrap_lib
from analysis.laws import forms as forms_lib

Noise = np.ndarray | float


@dataclasses.dataclass(frozen=True)
class Band:
  """Loss (nats/token) intervals at a set of points; every array has one value per point.

  Attributes:
    level: coverage of both intervals, e.g. 0.9.
    median: median over bootstrap refits of the predicted (mean) loss.
    mean: mean over bootstrap refits of the predicted (mean) loss.
    low, high: prediction interval for the loss of one new run (parameters and noise).
    parameter_low, parameter_high: interval of the mean loss (parameter uncertainty only).
    noise: how the residual noise was drawn, in words.
    n_refits: bootstrap refits the intervals rest on.
  """
  level: float
  median: np.ndarray
  mean: np.ndarray
  low: np.ndarray
  high: np.ndarray
  parameter_low: np.ndarray
  parameter_high: np.ndarray
  noise: str
  n_refits: int

  def covers(self, loss: np.ndarray) -> np.ndarray:
    """Whether the new-run interval holds each observed loss (nats/token)."""
    loss = np.asarray(loss, np.float64)
    return (self.low <= loss) & (loss <= self.high)

  def to_json(self) -> dict[str, Any]:
    arrays = {field: getattr(self, field).tolist() for field in (
        "median", "mean", "low", "high", "parameter_low", "parameter_high")}
    return dict(level=self.level, noise=self.noise, n_refits=self.n_refits, **arrays)


def predict_samples(form: forms_lib.Form, samples: Mapping[str, np.ndarray],
                    inputs: Mapping[str, np.ndarray]) -> np.ndarray:
  """Loss (nats/token), shape (samples, points), for parameter samples in natural units.

  Inputs are in natural units and not validated; samples are taken as `Form.raw_samples` takes
  them (a coefficient of 0, e.g. E of a degenerate fit, contributes nothing).
  """
  return np.exp(form.log_predict_raw(form.raw_samples(samples), inputs))


def predict(form: forms_lib.Form, params: Mapping[str, float],
            inputs: Mapping[str, np.ndarray]) -> np.ndarray:
  """Loss (nats/token) per point for one parameter set (see `predict_samples`)."""
  return predict_samples(form, {name: [value] for name, value in params.items()}, inputs)[0]


def _noise_draws(noise: Noise, shape: tuple[int, ...], rng: np.random.Generator
                 ) -> tuple[np.ndarray, str]:
  """Log factors to multiply predictions by (exp of them), and a description."""
  if np.ndim(noise) == 0:
    sd = float(noise)
    if not (np.isfinite(sd) and sd >= 0):
      raise ValueError(f"noise={noise}: a Gaussian log-space sd must be finite and >= 0")
    return rng.normal(0.0, sd, shape), f"Gaussian log-space noise, sd {sd:.4g}"
  residuals = np.asarray(noise, np.float64).reshape(-1)
  if residuals.size == 0 or not np.all(np.isfinite(residuals)):
    raise ValueError("noise: log residuals to resample must be a non-empty finite array")
  return (-rng.choice(residuals, size=shape),
          f"resampled log residuals ({residuals.size}, rms {np.sqrt(np.mean(residuals**2)):.4g})")


def band_from_predictions(predictions: np.ndarray, *, level: float, noise: Noise,
                          draws: int = 20, seed: int = 0) -> Band:
  """Band from per-refit mean-loss predictions (refits, points) plus residual noise.

  Each refit's prediction is combined with `draws` independent noise draws per point.
  Without refits (every bootstrap refit failed) all intervals are NaN.
  """
  predictions = np.asarray(predictions, np.float64)
  if predictions.ndim != 2:
    raise ValueError(f"predictions must have shape (refits, points); got {predictions.shape}")
  if draws < 1:
    raise ValueError(f"draws={draws} must be >= 1")
  rng = np.random.default_rng(seed)
  log_noise, description = _noise_draws(noise, (draws,) + predictions.shape, rng)
  if predictions.shape[0] == 0:
    nan = np.full(predictions.shape[1], np.nan)
    return Band(level, nan, nan, nan, nan, nan, nan, description, 0)
  new_runs = (predictions[None] * np.exp(log_noise)).reshape(-1, predictions.shape[1])
  low, high = bootstrap_lib.percentile_interval(new_runs, level)
  parameter_low, parameter_high = bootstrap_lib.percentile_interval(predictions, level)
  return Band(level=level, median=np.median(predictions, axis=0),
              mean=np.mean(predictions, axis=0), low=low, high=high,
              parameter_low=parameter_low, parameter_high=parameter_high, noise=description,
              n_refits=predictions.shape[0])


def prediction_interval(boot: bootstrap_lib.BootstrapResult, inputs: Mapping[str, np.ndarray],
                        *, level: float | None = None, noise: Noise, draws: int = 20,
                        seed: int = 0) -> Band:
  """Interval for the loss (nats/token) of ONE NEW RUN at each point, and of the mean loss.

  Args:
    boot: bootstrap refits of the law; parameter uncertainty comes from `boot.raw`.
    inputs: the form's inputs by name, natural units (parameters, tokens, FLOPs, tokens per
      parameter).
    level: coverage in (0, 1); defaults to the bootstrap's level.
    noise: log residuals r = log(predicted) - log(observed) to resample (e.g. the fit's
      training residuals), or a Gaussian log-space standard deviation (e.g. the seed spread).
    draws: noise draws per refit and point.
    seed: seed of the noise draws.
  """
  predictions = np.exp(boot.form.log_predict_raw(boot.raw, inputs))
  return band_from_predictions(predictions,
                               level=boot.level if level is None else level, noise=noise,
                               draws=draws, seed=seed)


def compute_optimal_interval(boot: bootstrap_lib.BootstrapResult, flops: np.ndarray, *,
                             level: float | None = None, noise: Noise, draws: int = 20,
                             seed: int = 0) -> Band:
  """Band of the compute-optimal loss (nats/token) at each budget in `flops` (FLOPs).

  Every bootstrap refit is evaluated at its own optimum (`optimal.optimal_raw`); `noise` and the
  two intervals are as in `prediction_interval`.
  """
  _, _, loss = optimal.optimal_raw(boot.form, boot.raw, flops)
  return band_from_predictions(loss, level=boot.level if level is None else level, noise=noise,
                               draws=draws, seed=seed)
