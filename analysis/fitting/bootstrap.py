"""Bootstrap over runs: refit a form on resampled observations, percentile intervals.

Each resample draws the observations (or groups of them, e.g. all points of one run) with
replacement and refits the form from its whole start grid with the same pruned multi-start
search as `fit.fit`. A resample is expressed as integer counts over the fixed set of points, so
every refit has the same shapes and one compiled search serves them all; resamples are refitted
`batch_size` at a time (vectorised). Intervals are percentile intervals at `level`
(`percentile_interval`, the one percentile rule of every bootstrap interval of the analysis).

For forms with exponents alpha (on N) and beta (on D) the samples also carry the
compute-optimal allocation exponents of Hoffmann et al. 2022: N_opt ~ C^a, D_opt ~ C^b with
a = beta / (alpha + beta) and b = alpha / (alpha + beta).
"""
from collections.abc import Mapping, Sequence
import dataclasses
import math
import time
from typing import Any
import warnings

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from analysis.fitting import fit as fit_lib
from analysis.laws import forms as forms_lib
from analysis.fitting import multistart
from analysis.fitting import objectives as objectives_lib


@dataclasses.dataclass
class BootstrapResult:
  """Bootstrap samples and intervals.

  Attributes:
    form: the refitted form.
    samples: name -> (n_ok,) values over the successful resamples: every parameter of the
      form's root (natural units; fixed ones constant, tied ones copied) and, for forms with
      alpha and beta, the derived exponents 'a' and 'b'.
    ci: name -> (low, high) percentile interval at `level`.
    level: the interval's coverage, e.g. 0.95.
    n_failed: resamples whose refit did not converge (left out of samples and intervals).
    n_resamples: resamples drawn.
    raw: (n_ok, P) the successful refits in raw coordinates of the free parameters (see
      `forms.Form.to_raw`).
    seconds: wall time of the refits.
  """
  form: forms_lib.Form
  samples: dict[str, np.ndarray]
  ci: dict[str, tuple[float, float]]
  level: float
  n_failed: int
  n_resamples: int
  raw: np.ndarray
  seconds: float

  def to_json(self) -> dict[str, Any]:
    """Intervals, level, counts and the per-name sample standard deviations."""
    return dict(form=self.form.name, level=self.level, method="percentile bootstrap",
                n_resamples=self.n_resamples, n_failed=self.n_failed,
                ci={k: [float(lo), float(hi)] for k, (lo, hi) in self.ci.items()},
                std={k: float(np.std(v, ddof=1)) if v.size > 1 else float("nan")
                     for k, v in self.samples.items()},
                seconds=self.seconds)


def _check_level(level: float) -> None:
  """An interval's coverage: in (0, 1]; 1 is the range of the samples."""
  if not 0 < level <= 1:
    raise ValueError(f"level={level} must be in (0, 1], e.g. 0.95")


def percentile_interval(samples: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
  """(low, high): the quantiles (1 - level) / 2 and (1 + level) / 2 along the first axis.

  The one percentile rule of every bootstrap interval here: non-finite samples (NaN where a
  resample leaves a quantity undefined, +-inf where a refit diverged) are dropped, column by
  column, and the quantiles (linear interpolation) are taken over the finite rest; a column
  with no finite sample gives NaN. How many resamples failed is counted by the caller
  (`BootstrapResult.n_failed`, `Approach2Result.n_failed`). A 1-D `samples` gives scalars.
  """
  _check_level(level)
  samples = np.asarray(samples, np.float64)
  if samples.shape[0] == 0:
    nan = np.full(samples.shape[1:], np.nan)
    return nan, nan
  quantiles = ((1 - level) / 2, (1 + level) / 2)
  finite = np.isfinite(samples)
  if np.all(finite):
    low, high = np.quantile(samples, quantiles, axis=0)
  else:
    with warnings.catch_warnings():
      warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
      low, high = np.nanquantile(np.where(finite, samples, np.nan), quantiles, axis=0)
  return low, high


def percentile_intervals(samples: Mapping[str, np.ndarray], level: float
                         ) -> dict[str, tuple[float, float]]:
  """name -> (low, high) `percentile_interval` of each 1-D sample array, as floats."""
  return {name: tuple(float(x) for x in percentile_interval(values, level))
          for name, values in samples.items()}


def mixture_interval(samples: Sequence[np.ndarray], weights: Sequence[float], level: float
                     ) -> tuple[float, float]:
  """(low, high): the (1 - level) / 2 and (1 + level) / 2 quantiles of a mixture of bootstrap
  distributions, component k (the 1-D `samples[k]`) drawn with probability `weights[k]` and each
  of its finite samples equally likely within it (inverse of the weighted empirical CDF: the
  smallest sample whose cumulative probability reaches the quantile). Components with no finite
  sample or no weight are left out; with none left, NaN."""
  _check_level(level)
  values, masses = [], []
  for component, weight in zip(samples, weights, strict=True):
    component = np.asarray(component, np.float64)
    component = component[np.isfinite(component)]
    if component.size and weight > 0:
      values.append(component)
      masses.append(np.full(component.size, weight / component.size))
  if not values:
    return math.nan, math.nan
  values, masses = np.concatenate(values), np.concatenate(masses)
  order = np.argsort(values, kind="stable")
  cumulative = np.cumsum(masses[order]) / masses.sum()
  quantiles = np.array([(1 - level) / 2, (1 + level) / 2]) - 1e-12  # the sums' rounding
  low, high = np.searchsorted(cumulative, quantiles, side="left")
  last = values.size - 1
  return float(values[order][min(low, last)]), float(values[order][min(high, last)])


def resample_counts(n_points: int, n_resamples: int, seed: int,
                    groups: np.ndarray | None = None) -> np.ndarray:
  """(n_resamples, n_points) integer counts: how often each point is drawn in each resample.

  Without groups each point is drawn independently (n_points draws with replacement). With
  `groups` (one label per point, e.g. a run id) whole groups are drawn, as many as there are
  groups, and every point of a drawn group counts once per draw.
  """
  rng = np.random.default_rng(seed)
  if groups is None:
    return rng.multinomial(n_points, np.full(n_points, 1 / n_points), size=n_resamples)
  groups = np.asarray(groups).reshape(-1)
  if groups.size != n_points:
    raise ValueError(f"groups has {groups.size} labels but there are {n_points} points")
  _, group_of_point = np.unique(groups, return_inverse=True)
  n_groups = group_of_point.max() + 1
  group_counts = rng.multinomial(n_groups, np.full(n_groups, 1 / n_groups), size=n_resamples)
  return group_counts[:, group_of_point]


def allocation_exponents(params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
  """a = beta / (alpha + beta), b = alpha / (alpha + beta) (N_opt ~ C^a, D_opt ~ C^b)."""
  alpha = np.asarray(params["alpha"])
  beta = np.asarray(params["beta"])
  return dict(a=beta / (alpha + beta), b=alpha / (alpha + beta))


def bootstrap(form: forms_lib.Form, inputs: Mapping[str, np.ndarray], loss: np.ndarray, *,
              n_resamples: int = 1000, level: float = 0.95, seed: int = 0,
              groups: np.ndarray | None = None,
              objective: objectives_lib.Objective = objectives_lib.Objective(),
              bounds: Mapping[str, tuple[float, float]] | None = None,
              weights: np.ndarray | None = None,
              init_grid: np.ndarray | None = None, batch_size: int = 1,
              settings: multistart.SearchSettings = multistart.SearchSettings()
              ) -> BootstrapResult:
  """Refits `form` on `n_resamples` bootstrap resamples; percentile intervals at `level`.

  Args:
    form: the law, e.g. `catalogue.CHINCHILLA`.
    inputs: the form's inputs by name in natural units (parameters, tokens, FLOPs).
    loss: observed loss per point, nats/token.
    n_resamples: resamples to refit, each from the full start grid.
    level: interval coverage in (0, 1].
    seed: seed of the resampling.
    groups: optional label per point; whole groups are resampled (see `resample_counts`).
    objective: the loss on log-loss residuals, as in `fit.fit`.
    bounds: name -> (low, high) in natural units for free parameters, as in `fit.fit`.
    weights: optional observation weight per point, as in `fit.fit` (e.g.
      `seeds.observation_weights`); a point weighs its weight times its resample count.
    init_grid: (S, P) raw starting points; defaults to the form's grid. The survivors of a
      full fit (`FitResult.survivors`) make a cheap warm start.
    batch_size: resamples refitted together in one vectorised call; 1 (the default) reuses
      the compiled search of `fit.fit` on the same points, larger values compile another.
    settings: how the multi-start search spends its steps, as in `fit.fit`.

  Returns:
    BootstrapResult with samples, intervals and the number of failed refits.
  """
  if n_resamples < 1:
    raise ValueError(f"n_resamples={n_resamples} must be >= 1")
  if batch_size < 1:
    raise ValueError(f"batch_size={batch_size} must be >= 1")
  _check_level(level)
  if not isinstance(objective, objectives_lib.Objective):
    raise ValueError(f"objective={objective!r} must be an objectives.Objective")
  arrays, loss, weights = fit_lib.check_observations(form, inputs, loss, weights)
  lower, upper = objectives_lib.raw_bounds(form, bounds)
  starts = fit_lib.prepare_starts(form, init_grid)
  counts = resample_counts(loss.size, n_resamples, seed, groups) * weights[None]
  batch_size = min(batch_size, n_resamples)
  padded = -n_resamples % batch_size
  counts = np.concatenate([counts, np.repeat(counts[-1:], padded, axis=0)])
  run = multistart.compiled_search(form, objective, settings, batched=batch_size > 1)
  started = time.perf_counter()
  raws, failed = [], 0
  log_inputs, log_loss, counts = multistart.pad_points(
      {k: np.log(v) for k, v in arrays.items()}, np.log(loss), counts)
  with jax.enable_x64(True):
    log_inputs, log_loss, starts, box = jax.tree.map(
        jnp.asarray, (log_inputs, log_loss, starts, (lower, upper)))
    for first in range(0, n_resamples, batch_size):
      batch = counts[first:first + batch_size]
      survivors = jax.device_get(run(starts, log_inputs, log_loss,
                                     jnp.asarray(batch if batch_size > 1 else batch[0]), *box))
      for i in range(min(batch_size, n_resamples - first)):
        one = {k: v[i] for k, v in survivors.items()} if batch_size > 1 else survivors
        _, _, converged, _, _ = fit_lib.summarise(
            form, one, int(np.sum(batch[i] > 0)), starts.shape[0], objective,
            float(batch[i].sum()))
        if converged:
          raws.append(one["raw"][np.argmin(one["objective"])])
        else:
          failed += 1
  seconds = time.perf_counter() - started
  if failed:
    logging.warning("bootstrap of %s: %d of %d refits did not converge; left out",
                    form.name, failed, n_resamples)
  raw = np.array(raws).reshape(-1, len(form.parameters))
  natural = [form.from_raw(r) for r in raw]
  samples = {name: np.array([values[name] for values in natural])
             for name in form.all_param_names}
  if {"alpha", "beta"} <= set(samples):
    samples.update(allocation_exponents(samples))
  return BootstrapResult(form=form, samples=samples, ci=percentile_intervals(samples, level),
                         level=level, n_failed=failed, n_resamples=n_resamples, raw=raw,
                         seconds=seconds)
