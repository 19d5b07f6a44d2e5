"""Chinchilla Approach 1 (Hoffmann et al. 2022, Sec. 3.1) and lower envelopes of final losses.

Approach 1: each run's eval curve is placed on a compute axis, C(t) = (FLOPs per token) *
tokens(t); at each compute on a log grid the run with the lowest loss (interpolated in ln C)
gives N_opt(C) (parameters) and D_opt(C) = C / (FLOPs per token of that run) (tokens); power
laws are fitted through those points in log-log space. Intervals: bootstrap over runs, percentile
intervals by `bootstrap.percentile_interval` (non-finite resamples left out).
"""
import dataclasses

import numpy as np

from analysis.fitting import bootstrap as bootstrap_lib
from analysis.laws import powerlaw


@dataclasses.dataclass(frozen=True)
class Approach1Result(powerlaw.AllocationLaws):
  """The envelope on a compute grid (FLOPs), the power laws, and bootstrap intervals."""
  flops: np.ndarray
  envelope_loss: np.ndarray
  n_opt: np.ndarray
  d_opt: np.ndarray
  n_opt_law: powerlaw.PowerLaw
  d_opt_law: powerlaw.PowerLaw
  samples: dict[str, np.ndarray]
  ci: dict[str, tuple[float, float]]
  level: float
  warnings: list[str]

  def to_json(self) -> dict:
    return dict(**self.allocation_json(), n_grid_points=len(self.flops), warnings=self.warnings)


def lower_envelope(x: np.ndarray, loss: np.ndarray) -> np.ndarray:
  """Indices of the runs on the lower envelope of loss against x, in increasing x.

  A run is on it when no run with x at most its own has a lower loss (the best loss reachable
  with that much x: parameters, tokens or FLOPs).
  """
  order = np.lexsort((loss, x))
  best_so_far = np.minimum.accumulate(loss[order])
  keep = np.ones(len(order), dtype=bool)
  keep[1:] = loss[order][1:] < best_so_far[:-1]
  return order[keep]


def approach1(n: np.ndarray, flops_per_token: np.ndarray,
              curves: list[tuple[np.ndarray, np.ndarray]], *, grid_size: int = 200,
              min_sizes: int = 3, n_resamples: int = 1000, level: float = 0.95,
              seed: int = 0) -> Approach1Result:
  """Envelope of the training curves over compute and power laws through its optima.

  n: parameters per run; flops_per_token: training FLOPs per token per run (6 N under
  C = 6ND); curves: per run (tokens seen, eval loss in nats/token). Only grid points covered by
  runs of >= `min_sizes` distinct sizes are used, so that the optimum is a choice among sizes.
  """
  n = np.asarray(n, dtype=np.float64)
  flops_per_token = np.asarray(flops_per_token, dtype=np.float64)
  if len(curves) != len(n):
    raise ValueError(f"approach 1: {len(curves)} curves for {len(n)} runs")
  usable = [i for i, (tokens, _) in enumerate(curves) if len(tokens) >= 2]
  warnings = []
  if len(usable) < len(curves):
    warnings.append(f"approach 1: {len(curves) - len(usable)} run(s) have < 2 eval points; "
                    "not used")
  if len(np.unique(n[usable])) < min_sizes:
    raise ValueError(f"approach 1 needs curves from >= {min_sizes} model sizes; found "
                     f"{len(np.unique(n[usable]))}")
  log_c = [np.log(flops_per_token[i] * curves[i][0]) for i in usable]
  grid = np.linspace(min(v[0] for v in log_c), max(v[-1] for v in log_c), grid_size)
  loss_RxG = np.full((len(usable), grid_size), np.inf)
  for row, i in enumerate(usable):
    covered = (grid >= log_c[row][0]) & (grid <= log_c[row][-1])
    loss_RxG[row, covered] = np.interp(grid[covered], log_c[row], curves[i][1])
  sizes, size_of_run = np.unique(n[usable], return_inverse=True)
  onehot_RxK = np.eye(len(sizes))[size_of_run]
  rng = np.random.default_rng(seed)
  counts_SxR = rng.multinomial(len(usable), np.full(len(usable), 1 / len(usable)),
                               size=n_resamples)
  weights_SxR = np.concatenate([np.ones((1, len(usable))), counts_SxR > 0], axis=0)
  chunks = [_envelope_choices(loss_RxG, onehot_RxK, weights_SxR[start:start + 64], min_sizes)
            for start in range(0, len(weights_SxR), 64)]
  best_SxG = np.concatenate([best for best, _ in chunks])
  valid_SxG = np.concatenate([valid for _, valid in chunks])
  if valid_SxG[0].sum() < 2:
    raise ValueError("approach 1: fewer than 2 compute points are covered by runs of "
                     f">= {min_sizes} sizes; train more sizes to overlapping compute")
  log_n_SxG = np.log(n[usable])[best_SxG]
  log_d_SxG = grid[None] - np.log(flops_per_token[usable])[best_SxG]
  a, log_kn = powerlaw.weighted_lines(grid, np.where(valid_SxG, log_n_SxG, 0), valid_SxG * 1.0)
  b, log_kd = powerlaw.weighted_lines(grid, np.where(valid_SxG, log_d_SxG, 0), valid_SxG * 1.0)
  valid = valid_SxG[0]
  n_law = powerlaw.PowerLaw(float(np.exp(log_kn[0])), float(a[0]), int(valid.sum()))
  d_law = powerlaw.PowerLaw(float(np.exp(log_kd[0])), float(b[0]), int(valid.sum()))
  with np.errstate(over="ignore"):  # a wild resample's coefficient may be inf
    samples = dict(a=a[1:], b=b[1:], n_coefficient=np.exp(log_kn[1:]),
                   d_coefficient=np.exp(log_kd[1:]))
  ci = bootstrap_lib.percentile_intervals(samples, level)
  best = best_SxG[0, valid]
  return Approach1Result(
      flops=np.exp(grid[valid]), envelope_loss=loss_RxG[best, np.flatnonzero(valid)],
      n_opt=np.exp(log_n_SxG[0, valid]), d_opt=np.exp(log_d_SxG[0, valid]), n_opt_law=n_law,
      d_opt_law=d_law, samples=samples, ci=ci, level=level, warnings=warnings)


def _envelope_choices(loss_RxG: np.ndarray, onehot_RxK: np.ndarray, weights_SxR: np.ndarray,
                      min_sizes: int) -> tuple[np.ndarray, np.ndarray]:
  """Best run per grid point for each resample, and whether >= min_sizes sizes cover it."""
  included_SxRx1 = weights_SxR[:, :, None] > 0
  masked_SxRxG = np.where(included_SxRx1, loss_RxG[None], np.inf)
  best_SxG = np.argmin(masked_SxRxG, axis=1)
  covered_SxRxG = included_SxRx1 & np.isfinite(loss_RxG)[None]
  sizes_covering_SxG = np.einsum("srg,rk->skg", covered_SxRxG.astype(np.float32),
                                 onehot_RxK.astype(np.float32)) > 0
  valid_SxG = sizes_covering_SxG.sum(axis=1) >= min_sizes
  return best_SxG, valid_SxG
