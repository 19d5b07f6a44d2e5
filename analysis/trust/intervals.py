"""Prediction intervals for a fitted law, at given inputs or at the compute-optimal point of C.

Two intervals come from the same bootstrap refits (`analysis.bootstrap.BootstrapResult`):
  * the parameter interval: the spread of each refit's predicted loss, i.e. the uncertainty of
    the law's MEAN loss at a point;
  * the prediction interval: each refit's prediction with residual noise added, i.e. where the
    loss of ONE NEW RUN at that point is expected to fall. The noise is either resampled from
    log residuals (e.g. the fit's own training residuals) or drawn from a Gaussian in log space
    with a given standard deviation (e.g. the seed-to-seed spread of repeated runs).
Residual convention: r = log(predicted loss) - log(observed loss), natural log, so a new run's
loss is the prediction times exp(-r). Losses are in nats/token; both intervals are percentile
intervals at `level`.

At a budget C (FLOPs, C = 6 N D) `optimal_point` finds the allocation minimising a form's loss:
numerically, over the tokens per parameter M = D / N, for forms of (n, d) or (c, m); for forms
of c alone the loss is the form at C and N, D are not defined (NaN).
"""
from collections.abc import Mapping
import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from analysis.fitting import bootstrap as bootstrap_lib
from analysis.laws import forms as forms_lib

# The compute-optimal search covers tokens per parameter M = D / N in this range; an optimum at
# an end of it is reported at that end.
TOKENS_PER_PARAMETER_RANGE = (1e-8, 1e10)
_GRID_POINTS = 256
_REFINE_ITERATIONS = 60
_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0

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


def predict_raw(form: forms_lib.Form, raw: np.ndarray,
                inputs: Mapping[str, np.ndarray]) -> np.ndarray:
  """Loss (nats/token), shape (samples, points), for raw parameter rows (samples, P).

  `raw` is in the form's raw coordinates (see `forms.Form.to_raw`), e.g. `BootstrapResult.raw`;
  inputs are in natural units. The log predictor is evaluated once, broadcasting.
  """
  raw = np.asarray(raw, np.float64).reshape(-1, len(form.parameters))
  with jax.enable_x64(True):
    raw_columns = {name: jnp.asarray(raw[:, i])[:, None] for i, name in enumerate(form.raw_names)}
    log_inputs = {name: jnp.log(jnp.asarray(inputs[name], jnp.float64)).reshape(1, -1)
                  for name in form.inputs}
    return np.exp(np.asarray(form.log_predict(raw_columns, log_inputs), np.float64))


def predict_samples(form: forms_lib.Form, samples: Mapping[str, np.ndarray],
                    inputs: Mapping[str, np.ndarray]) -> np.ndarray:
  """Loss (nats/token), shape (samples, points), for parameter samples in natural units.

  A coefficient that underflowed to 0 (e.g. E of a degenerate fit) contributes 0 instead of
  being rejected as `Form.predict` does.
  """
  columns = []
  for parameter in form.parameters:
    values = np.asarray(samples[parameter.name], np.float64).reshape(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
      columns.append(np.log(values) if parameter.log_scale else values)
  return predict_raw(form, np.stack(columns, axis=1), inputs)


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
  return band_from_predictions(predict_raw(boot.form, boot.raw, inputs),
                               level=boot.level if level is None else level, noise=noise,
                               draws=draws, seed=seed)


def _allocation_inputs(form: forms_lib.Form, log_flops, log_tokens_per_parameter):
  """Log inputs of `form` at C = 6 N D with D / N = M: N = sqrt(C / 6M), D = M N."""
  log_n = 0.5 * (log_flops - jnp.log(6.0) - log_tokens_per_parameter)
  values = dict(n=log_n, d=log_n + log_tokens_per_parameter, c=log_flops,
                m=log_tokens_per_parameter)
  return {name: values[name] for name in form.inputs}


def _check_allocatable(form: forms_lib.Form) -> None:
  if set(form.inputs) not in ({"n", "d"}, {"c", "m"}, {"c"}):
    raise ValueError(f"{form.name}: inputs {form.inputs} do not define a compute-optimal point; "
                     "use a form of (n, d), (c, m) or (c)")


@functools.cache
def _optimum_search(form: forms_lib.Form):
  """Jitted (raw (S, P), log C (B,)) -> (log M, log loss), each (S, B), for an (n, d)/(c, m) form.

  A grid over log M, then a golden-section search in the bracket around the best grid point
  (all budgets and samples at once).
  """
  grid = jnp.linspace(*np.log(TOKENS_PER_PARAMETER_RANGE), _GRID_POINTS)
  spacing = grid[1] - grid[0]

  def log_loss(raw_columns, log_flops, log_m):
    return form.log_predict(raw_columns, _allocation_inputs(form, log_flops, log_m))

  def run(raw, log_flops):
    raw_columns = {name: raw[:, i][:, None, None] for i, name in enumerate(form.raw_names)}
    values = log_loss(raw_columns, log_flops[None, :, None], grid[None, None, :])
    values = jnp.where(jnp.isfinite(values), values, jnp.inf)
    best = grid[jnp.argmin(values, axis=-1)]
    raw_columns = {name: value[..., 0] for name, value in raw_columns.items()}
    log_flops = log_flops[None, :]
    low, high = best - spacing, best + spacing

    def golden(_, bracket):
      low, high = bracket
      left, right = high - _GOLDEN * (high - low), low + _GOLDEN * (high - low)
      left_lower = log_loss(raw_columns, log_flops, left) < log_loss(raw_columns, log_flops, right)
      return jnp.where(left_lower, low, left), jnp.where(left_lower, right, high)

    low, high = jax.lax.fori_loop(0, _REFINE_ITERATIONS, golden, (low, high))
    log_m = jnp.clip(0.5 * (low + high), grid[0], grid[-1])
    return log_m, log_loss(raw_columns, log_flops, log_m)

  return jax.jit(run)


def optimal_raw(form: forms_lib.Form, raw: np.ndarray, flops: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Compute-optimal (N_opt, D_opt, loss), each (samples, budgets), for raw rows (samples, P).

  N in parameters, D in tokens, loss in nats/token, under C = 6 N D (FLOPs). For forms of C
  alone N and D are NaN.
  """
  _check_allocatable(form)
  raw = np.asarray(raw, np.float64).reshape(-1, len(form.parameters))
  flops = np.asarray(flops, np.float64).reshape(-1)
  if not np.all(np.isfinite(flops) & (flops > 0)):
    raise ValueError("flops: compute budgets must be finite and > 0 (FLOPs)")
  if set(form.inputs) == {"c"}:
    loss = predict_raw(form, raw, dict(c=flops))
    return np.full(loss.shape, np.nan), np.full(loss.shape, np.nan), loss
  with jax.enable_x64(True):
    log_m, log_loss = jax.device_get(_optimum_search(form)(jnp.asarray(raw),
                                                           jnp.log(jnp.asarray(flops))))
  n_opt = np.sqrt(flops[None] / (6.0 * np.exp(log_m)))
  return n_opt, n_opt * np.exp(log_m), np.exp(log_loss)


def optimal_point(form: forms_lib.Form, params: Mapping[str, float], flops: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(N_opt parameters, D_opt tokens, loss nats/token) per budget in `flops` (C = 6 N D, FLOPs).

  For Chinchilla's form this matches the closed form N_opt = G (C/6)^a of Hoffmann et al.
  2022 eq. 4; for forms of C alone N_opt and D_opt are NaN.
  """
  raw = form.to_raw({name: params[name] for name in form.param_names})
  n_opt, d_opt, loss = optimal_raw(form, raw[None], flops)
  return n_opt[0], d_opt[0], loss[0]


def compute_optimal_interval(boot: bootstrap_lib.BootstrapResult, flops: np.ndarray, *,
                             level: float | None = None, noise: Noise, draws: int = 20,
                             seed: int = 0) -> Band:
  """Band of the compute-optimal loss (nats/token) at each budget in `flops` (FLOPs).

  Every bootstrap refit is evaluated at its own optimum; `noise` and the two intervals are as
  in `prediction_interval`.
  """
  _, _, loss = optimal_raw(boot.form, boot.raw, flops)
  return band_from_predictions(loss, level=boot.level if level is None else level, noise=noise,
                               draws=draws, seed=seed)
