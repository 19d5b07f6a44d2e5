"""Chinchilla Approach 2 (Hoffmann et al. 2022, Sec. 3.2): IsoFLOP profiles.

For each compute budget C (FLOPs), fit a parabola to the final loss (nats/token) as a function of
ln N (parameters), take its minimum N_opt(C), and fit power laws N_opt = k_N C^a and
D_opt = k_D C^b (tokens) through the minima. Intervals come from a bootstrap over runs within
each budget, with every parabola and power law refitted per resample; the percentile intervals
are `bootstrap.percentile_interval`'s, which leave out resamples without a minimum (NaN).
"""
from collections.abc import Sequence
import dataclasses

import numpy as np

from analysis.fitting import bootstrap as bootstrap_lib
from analysis.laws import powerlaw


@dataclasses.dataclass(frozen=True)
class BudgetFit:
  """One IsoFLOP profile: its runs, the parabola loss = p0 (ln N)^2 + p1 ln N + p2, and optimum."""
  flops: float
  n: np.ndarray
  loss: np.ndarray
  parabola: tuple[float, float, float]
  n_opt: float
  d_opt: float
  loss_opt: float
  at_edge: bool

  def to_json(self) -> dict:
    return dict(flops=self.flops, n_runs=len(self.n), n_opt=self.n_opt, d_opt=self.d_opt,
                loss_opt=self.loss_opt, at_edge=self.at_edge, parabola=list(self.parabola))


@dataclasses.dataclass(frozen=True)
class Approach2Result(powerlaw.AllocationLaws):
  """Power laws through the IsoFLOP minima, with bootstrap samples and `level` intervals."""
  budgets: list[BudgetFit]
  n_opt_law: powerlaw.PowerLaw
  d_opt_law: powerlaw.PowerLaw
  samples: dict[str, np.ndarray]
  ci: dict[str, tuple[float, float]]
  level: float
  n_failed: int
  warnings: list[str]

  def to_json(self) -> dict:
    return dict(**self.allocation_json(), n_failed=self.n_failed,
                budgets=[budget.to_json() for budget in self.budgets], warnings=self.warnings)


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
              tolerance_decades: float = 0.05, min_sizes: int = 3, n_resamples: int = 1000,
              level: float = 0.95, seed: int = 0) -> Approach2Result:
  """IsoFLOP parabolas in ln N and power laws through their minima.

  n: parameters, d: tokens, c: training FLOPs (any convention; D_opt uses the runs' own FLOPs
  per parameter-token, C / (N D) = 6 under C = 6ND), loss: nats/token, budget: optional nominal
  budget per run (FLOPs). Budgets with < `min_sizes` distinct sizes, or a parabola without a
  minimum, are excluded with a warning; a minimum at the edge of the sampled sizes is kept with
  a warning. Raises ValueError when fewer than 2 budgets remain.
  """
  n, d, c, loss = (np.asarray(v, dtype=np.float64) for v in (n, d, c, loss))
  labels, budget_flops = group_budgets(c, budget, nominal=nominal,
                                       tolerance_decades=tolerance_decades, min_runs=min_sizes)
  warnings = []
  off_budget = int(np.sum(labels < 0))
  if off_budget:
    warnings.append(f"approach 2: {off_budget} run(s) lie on no IsoFLOP budget "
                    f"(tolerance {tolerance_decades} decades in C); not used")
  rng = np.random.default_rng(seed)
  budgets, vertex_samples, budget_samples = [], [], []
  for group, flops in enumerate(budget_flops):
    members = labels == group
    sizes = len(np.unique(n[members]))
    if sizes < min_sizes:
      warnings.append(f"approach 2: budget {flops:.3g} FLOPs excluded: {sizes} distinct sizes "
                      f"(< {min_sizes})")
      continue
    log_n = np.log(n[members])
    flops_per_param_token = c[members] / (n[members] * d[members])
    parabola = np.polyfit(log_n, loss[members], 2)
    if parabola[0] <= 0:
      warnings.append(f"approach 2: budget {flops:.3g} FLOPs excluded: the parabola in ln N "
                      "opens downward (no minimum)")
      continue
    vertex = -parabola[1] / (2 * parabola[0])
    order = np.argsort(log_n)
    best_is_extreme = np.argmin(loss[members]) in (order[0], order[-1])
    at_edge = bool(vertex <= log_n.min() or vertex >= log_n.max() or best_is_extreme)
    if at_edge:
      warnings.append(f"approach 2: budget {flops:.3g} FLOPs: the minimum sits at the edge of "
                      "the sampled sizes; N_opt is extrapolated")
    ratio = np.interp(vertex, log_n[order], flops_per_param_token[order])
    n_opt = float(np.exp(vertex))
    budgets.append(BudgetFit(
        flops=float(flops), n=n[members], loss=loss[members], parabola=tuple(map(float, parabola)),
        n_opt=n_opt, d_opt=float(flops / (ratio * n_opt)),
        loss_opt=float(np.polyval(parabola, vertex)), at_edge=at_edge))
    vertices = _bootstrap_vertices(log_n, loss[members], n_resamples, rng)
    ratios = np.interp(vertices, log_n[order], flops_per_param_token[order])
    vertex_samples.append(vertices)
    budget_samples.append(np.log(flops) - np.log(ratios))
  if len(budgets) < 2:
    raise ValueError(f"approach 2 needs >= 2 IsoFLOP budgets with >= {min_sizes} sizes each; "
                     f"found {len(budgets)}: pass a budget column or nominal budgets")
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
                         warnings=warnings)


def _bootstrap_vertices(log_n: np.ndarray, loss: np.ndarray, n_resamples: int,
                        rng: np.random.Generator) -> np.ndarray:
  """ln N_opt of the weighted parabola for each resample of the budget's runs (NaN if none)."""
  if n_resamples == 0:
    return np.zeros(0)
  size = len(log_n)
  weights = rng.multinomial(size, np.full(size, 1.0 / size), size=n_resamples).astype(float)
  centre = log_n.mean()
  design = np.stack([(log_n - centre) ** 2, log_n - centre, np.ones(size)], axis=1)
  normal = np.einsum("sm,mi,mj->sij", weights, design, design)
  rhs = np.einsum("sm,mi,m->si", weights, design, loss)
  distinct = np.array([len(np.unique(log_n[w > 0])) for w in weights])
  solvable = distinct >= 3
  coefficients = np.full((n_resamples, 3), np.nan)
  coefficients[solvable] = np.linalg.solve(normal[solvable], rhs[solvable][..., None])[..., 0]
  with np.errstate(invalid="ignore", divide="ignore"):
    vertices = centre - coefficients[:, 1] / (2 * coefficients[:, 0])
  return np.where(coefficients[:, 0] > 0, vertices, np.nan)
