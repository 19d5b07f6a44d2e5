"""Chinchilla Approach 2 (Hoffmann et al. 2022, Sec. 3.2): IsoFLOP profiles.

For each compute budget C (FLOPs), fit a parabola to the final loss (nats/token) as a function of
ln N (parameters), take its minimum N_opt(C), and fit power laws N_opt = k_N C^a and
D_opt = k_D C^b (tokens) through the minima. The parabola is fitted to every size of the budget
(Hoffmann et al.) or, with `window`, only to the sizes nearest the lowest loss (a local
quadratic, close to the interpolated minimum of Porian et al. 2024 on wide, skewed profiles:
`window` = 1 or 2 reproduces their 15 stored exponents, BENCHMARKS.md).

A budget whose lowest loss is at its smallest or largest sampled size, or whose vertex lies at
or beyond them, bounds N_opt instead of locating it: by default it is left out of the power
laws (`Approach2Result.left_out` says which and why); `include_edge=True` uses its extrapolated
vertex. Intervals come from a bootstrap over runs within each budget, with the window, the edge
rule, every parabola and the power laws redone per resample; a resample whose minimum lands on
an edge (or has none) gives NaN for that budget, which then sits out that resample's power
laws. The percentile intervals are `bootstrap.percentile_interval`'s, which leave out
resamples without an exponent (NaN).
"""
from collections.abc import Sequence
import dataclasses

import numpy as np

from analysis.fitting import bootstrap as bootstrap_lib
from analysis.laws import powerlaw


@dataclasses.dataclass(frozen=True)
class BudgetFit:
  """One IsoFLOP profile: its runs, the parabola loss = p0 (ln N)^2 + p1 ln N + p2 fitted to the
  runs with sizes in `fitted_n` (smallest, largest; parameters), and its optimum."""
  flops: float
  n: np.ndarray
  loss: np.ndarray
  parabola: tuple[float, float, float]
  n_opt: float
  d_opt: float
  loss_opt: float
  at_edge: bool
  fitted_n: tuple[float, float]

  def to_json(self) -> dict:
    return dict(flops=self.flops, n_runs=len(self.n), n_opt=self.n_opt, d_opt=self.d_opt,
                loss_opt=self.loss_opt, at_edge=self.at_edge, parabola=list(self.parabola),
                fitted_n=list(self.fitted_n))


@dataclasses.dataclass(frozen=True)
class LeftOut:
  """A budget (FLOPs) that is not in the power laws, and why: one of `REASONS`; with its runs'
  parameters `n` and final losses `loss` (nats/token), so that a figure can still show them."""
  flops: float
  reason: str
  n: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
  loss: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))

  def to_json(self) -> dict:
    return dict(flops=self.flops, reason=self.reason)


# Why a budget is left out: too few distinct sizes for a parabola; a parabola without a minimum;
# the lowest loss or the vertex at or beyond the smallest or largest sampled size (a bound).
REASONS = ("too few sizes", "no minimum", "minimum at the edge")


@dataclasses.dataclass(frozen=True)
class Approach2Result(powerlaw.AllocationLaws):
  """Power laws through the IsoFLOP minima of `budgets`, with bootstrap samples and `level`
  intervals; `left_out` are the budgets not in the power laws, with the reason."""
  budgets: list[BudgetFit]
  n_opt_law: powerlaw.PowerLaw
  d_opt_law: powerlaw.PowerLaw
  samples: dict[str, np.ndarray]
  ci: dict[str, tuple[float, float]]
  level: float
  n_failed: int
  warnings: list[str]
  left_out: list[LeftOut]
  include_edge: bool
  window: int | None

  def to_json(self) -> dict:
    return dict(**self.allocation_json(), n_failed=self.n_failed,
                budgets=[budget.to_json() for budget in self.budgets],
                left_out=[budget.to_json() for budget in self.left_out],
                include_edge=self.include_edge, window=self.window, warnings=self.warnings)


def group_budgets(flops: np.ndarray, budget: np.ndarray | None = None, *,
                  nominal: Sequence[float] | None = None, tolerance_decades: float = 0.05,
                  min_runs: int = 3) -> tuple[np.ndarray, np.ndarray]:
  """Assigns runs to IsoFLOP budgets: (label per run, -1 = on no budget; FLOPs per budget).

  In order of precedence: a finite `budget` column (its distinct values); `nominal` budgets
  (each run joins the nearest one within `tolerance_decades` of log10 C); otherwise the densest
  window of 2 * `tolerance_decades` in log10 C becomes a budget, repeatedly, while a window
  holds >= `min_runs` runs (extracted or rounded budgets scatter a few hundredths of a decade),
  and its FLOPs are the runs' geometric mean.
  """
  flops = np.asarray(flops, dtype=np.float64)
  if budget is not None and np.all(np.isfinite(budget)):
    values, labels = np.unique(np.asarray(budget, dtype=np.float64), return_inverse=True)
    return labels, values
  if nominal is not None:
    values = np.sort(np.asarray(nominal, dtype=np.float64))
    distance = np.abs(np.log10(flops)[:, None] - np.log10(values)[None])
    nearest = np.argmin(distance, axis=1)
    labels = np.where(distance[np.arange(len(flops)), nearest] <= tolerance_decades, nearest, -1)
    return labels, values
  order = np.argsort(flops)
  log_flops = np.log10(flops[order])
  free = np.ones(len(flops), dtype=bool)
  groups = []
  while np.sum(free) >= min_runs:
    candidates = np.flatnonzero(free)
    values = log_flops[candidates]
    ends = np.searchsorted(values, values + 2 * tolerance_decades, side="right")
    counts = ends - np.arange(len(values))
    start = int(np.argmax(counts))
    if counts[start] < min_runs:
      break
    members = candidates[start:ends[start]]
    groups.append(order[members])
    free[members] = False
  groups.sort(key=lambda members: np.median(flops[members]))
  labels = np.full(len(flops), -1)
  for label, members in enumerate(groups):
    labels[members] = label
  return labels, np.array([np.exp(np.mean(np.log(flops[m]))) for m in groups])


def approach2(n: np.ndarray, d: np.ndarray, c: np.ndarray, loss: np.ndarray, *,
              budget: np.ndarray | None = None, nominal: Sequence[float] | None = None,
              tolerance_decades: float = 0.05, min_sizes: int = 3, window: int | None = None,
              include_edge: bool = False, n_resamples: int = 1000, level: float = 0.95,
              seed: int = 0) -> Approach2Result:
  """IsoFLOP parabolas in ln N and power laws through their minima.

  n: parameters, d: tokens, c: training FLOPs (any convention; D_opt uses the runs' own FLOPs
  per parameter-token, C / (N D) = 6 under C = 6ND), loss: nats/token, budget: optional nominal
  budget per run (FLOPs). `window`: the parabola is fitted to the `window` distinct sizes on
  each side of the lowest-loss size (None: to every size). Budgets with < `min_sizes`
  distinct sizes, a parabola without a minimum, or (unless `include_edge`) a minimum at the edge
  of the sampled sizes are left out with a warning. Raises ValueError when fewer than 2 budgets
  remain, or on a bad argument.
  """
  n, d, c, loss = (np.asarray(v, dtype=np.float64) for v in (n, d, c, loss))
  for name, values in dict(d=d, c=c, loss=loss).items():
    if values.shape != n.shape or n.ndim != 1:
      raise ValueError(f"approach 2: {name} must be 1-D and as long as n ({n.shape}), "
                       f"got {values.shape}")
  if window is not None and (isinstance(window, bool) or not isinstance(window, int)
                             or window < 1):
    raise ValueError(f"approach 2: window must be None or an integer >= 1, got {window!r}")
  labels, budget_flops = group_budgets(c, budget, nominal=nominal,
                                       tolerance_decades=tolerance_decades, min_runs=min_sizes)
  warnings, left_out = [], []
  off_budget = int(np.sum(labels < 0))
  if off_budget:
    warnings.append(f"approach 2: {off_budget} run(s) lie on no IsoFLOP budget "
                    f"(tolerance {tolerance_decades} decades in C); not used")

  def leave_out(flops: float, reason: str, why: str) -> None:
    members = labels == group
    left_out.append(LeftOut(float(flops), reason, n[members], loss[members]))
    warnings.append(f"approach 2: budget {flops:.3g} FLOPs left out: {why}")

  rng = np.random.default_rng(seed)
  budgets, vertex_samples, budget_samples = [], [], []
  for group, flops in enumerate(budget_flops):
    members = labels == group
    sizes = len(np.unique(n[members]))
    if sizes < min_sizes:
      leave_out(flops, REASONS[0], f"{sizes} distinct sizes (< {min_sizes})")
      continue
    log_n, budget_loss = np.log(n[members]), loss[members]
    fit = _parabolas(log_n, budget_loss, np.ones((1, len(log_n))), window)
    if fit.edge[0] and not include_edge:
      leave_out(flops, REASONS[2], f"its minimum sits at the edge of the sampled sizes "
                f"({n[members].min():.3g}-{n[members].max():.3g}), a bound on N_opt rather "
                "than a vertex (include_edge=True uses it)")
      continue
    if not np.isfinite(fit.vertex[0]):
      leave_out(flops, REASONS[1], "the parabola in ln N has no minimum")
      continue
    if fit.edge[0]:
      warnings.append(f"approach 2: budget {flops:.3g} FLOPs: the minimum sits at the edge of "
                      "the sampled sizes; used with its extrapolated N_opt (include_edge)")
    order = np.argsort(log_n)
    flops_per_param_token = (c[members] / (n[members] * d[members]))[order]
    vertex = float(fit.vertex[0])
    ratio = np.interp(vertex, log_n[order], flops_per_param_token)
    budgets.append(BudgetFit(
        flops=float(flops), n=n[members], loss=budget_loss, parabola=fit.raw_parabola(0),
        n_opt=float(np.exp(vertex)), d_opt=float(flops / (ratio * np.exp(vertex))),
        loss_opt=float(np.polyval(fit.raw_parabola(0), vertex)), at_edge=bool(fit.edge[0]),
        fitted_n=(float(np.exp(fit.low[0])), float(np.exp(fit.high[0])))))
    weights = rng.multinomial(len(log_n), np.full(len(log_n), 1.0 / len(log_n)),
                              size=n_resamples).astype(float)
    resampled = _parabolas(log_n, budget_loss, weights, window)
    vertices = np.where(resampled.edge & (not include_edge), np.nan, resampled.vertex)
    vertex_samples.append(vertices)
    budget_samples.append(np.log(flops) - np.log(np.interp(vertices, log_n[order],
                                                           flops_per_param_token)))
  if len(budgets) < 2:
    edges = sum(budget.reason == REASONS[2] for budget in left_out)
    raise ValueError(f"approach 2 needs >= 2 IsoFLOP budgets with >= {min_sizes} sizes each "
                     f"and a minimum inside them; found {len(budgets)} ({edges} left out with "
                     "the minimum at an edge): pass a budget column or nominal budgets, or "
                     "sample sizes around each minimum")
  if len(budgets) == 2:
    warnings.append("approach 2: only 2 budgets: the power laws pass exactly through both "
                    "minima, so a and b are poorly determined; add budgets")
  log_c = np.log([b.flops for b in budgets])
  n_law = powerlaw.fit_power_law(np.exp(log_c), np.array([b.n_opt for b in budgets]))
  d_law = powerlaw.fit_power_law(np.exp(log_c), np.array([b.d_opt for b in budgets]))
  log_n_opt = np.stack(vertex_samples, axis=1)
  log_d_opt = np.stack(budget_samples, axis=1) - log_n_opt
  valid = np.isfinite(log_n_opt)
  a, log_kn = powerlaw.weighted_lines(log_c, np.where(valid, log_n_opt, 0.0), valid * 1.0)
  b, log_kd = powerlaw.weighted_lines(log_c, np.where(valid, log_d_opt, 0.0), valid * 1.0)
  with np.errstate(over="ignore"):  # a wild resample's coefficient may be inf
    samples = dict(a=a, b=b, n_coefficient=np.exp(log_kn), d_coefficient=np.exp(log_kd))
  ci = bootstrap_lib.percentile_intervals(samples, level)
  return Approach2Result(budgets=budgets, n_opt_law=n_law, d_opt_law=d_law, samples=samples,
                         ci=ci, level=level, n_failed=int(np.sum(~np.isfinite(a))),
                         warnings=warnings, left_out=left_out, include_edge=include_edge,
                         window=window)


@dataclasses.dataclass(frozen=True)
class _Parabolas:
  """One budget's parabolas, one per row of run weights: loss = q0 (ln N - centre)^2
  + q1 (ln N - centre) + q2 (`centred`, NaN where unsolvable), the vertex ln N_opt (NaN without a
  minimum), whether the minimum is at an edge, and the fitted ln N range (`low`, `high`)."""
  centre: float
  centred: np.ndarray
  vertex: np.ndarray
  edge: np.ndarray
  low: np.ndarray
  high: np.ndarray

  def raw_parabola(self, row: int) -> tuple[float, float, float]:
    """Row `row`'s (p0, p1, p2) of loss = p0 (ln N)^2 + p1 ln N + p2."""
    q0, q1, q2 = self.centred[row]
    m = self.centre
    return float(q0), float(q1 - 2 * q0 * m), float(q0 * m * m - q1 * m + q2)


def _parabolas(log_n: np.ndarray, loss: np.ndarray, weights_SxM: np.ndarray,
               window: int | None) -> _Parabolas:
  """The weighted least-squares parabola in ln N of each row of run counts `weights_SxM`
  (a bootstrap resample; all ones for the data), over the sizes it samples or, with `window`,
  the `window` sampled sizes on each side of its lowest-loss run's size. The minimum is at an
  edge when that run has the smallest or largest sampled size, or the vertex lies at or beyond
  them."""
  sizes, size_of = np.unique(log_n, return_inverse=True)
  present = (weights_SxM @ (size_of[:, None] == np.arange(len(sizes))[None])) > 0
  rank = np.cumsum(present, axis=1) - 1
  lowest = np.argmin(np.where(weights_SxM > 0, loss[None], np.inf), axis=1)
  lowest_rank = np.take_along_axis(rank, size_of[lowest][:, None], axis=1)
  last_rank = rank[:, -1:]
  in_window = present if window is None else present & (np.abs(rank - lowest_rank) <= window)
  fitted = weights_SxM * in_window[:, size_of]
  centre = float(log_n.mean())
  design = np.stack([(log_n - centre) ** 2, log_n - centre, np.ones(len(log_n))], axis=1)
  normal = np.einsum("sm,mi,mj->sij", fitted, design, design)
  rhs = np.einsum("sm,mi,m->si", fitted, design, loss)
  solvable = in_window.sum(axis=1) >= 3
  centred = np.full((len(fitted), 3), np.nan)
  centred[solvable] = np.linalg.solve(normal[solvable], rhs[solvable][..., None])[..., 0]
  with np.errstate(invalid="ignore", divide="ignore"):
    vertex = np.where(centred[:, 0] > 0, centre - centred[:, 1] / (2 * centred[:, 0]), np.nan)
  smallest = sizes[np.argmax(present, axis=1)]
  largest = sizes[len(sizes) - 1 - np.argmax(present[:, ::-1], axis=1)]
  edge = ((lowest_rank[:, 0] == 0) | (lowest_rank[:, 0] == last_rank[:, 0])
          | (vertex <= smallest) | (vertex >= largest))
  low = np.min(np.where(in_window, sizes[None], np.inf), axis=1)
  high = np.max(np.where(in_window, sizes[None], -np.inf), axis=1)
  return _Parabolas(centre, centred, vertex, edge, low, high)
