"""Compute-optimal allocation: N_opt(C) parameters and D_opt(C) tokens for a budget C in FLOPs.

From Approach 3 (Hoffmann et al. 2022, Eq. 4, with C = 6ND):
  N_opt = G (C/6)^a,  D_opt = G^-1 (C/6)^b,  G = (alpha A / (beta B))^(1 / (alpha + beta)),
  a = beta / (alpha + beta),  b = alpha / (alpha + beta);
from Approaches 1 and 2 the fitted power laws N_opt = k_N C^a and D_opt = k_D C^b; and from the
published laws. Intervals come from bootstrap samples of the parameters.
"""
import dataclasses

import numpy as np

from analysis.laws import powerlaw
from analysis.laws import published
@dataclasses.dataclass(frozen=True)
class Allocation:
  """N_opt (parameters) and D_opt (tokens) at each budget in `flops` (FLOPs).

  `*_interval` arrays have shape (2, budgets) (low, high at `level`), NaN when not available;
  `ratio_interval` is that of the tokens per parameter D_opt / N_opt.
  `convention` names the N and C conventions the numbers are in. `identifiable` is False when
  the fit behind the allocation is not identifiable (its numbers are then not measurements).
  """
  source: str
  convention: str
  flops: np.ndarray
  n_opt: np.ndarray
  d_opt: np.ndarray
  n_interval: np.ndarray
  d_interval: np.ndarray
  level: float
  ratio_interval: np.ndarray | None = None
  identifiable: bool = True

  @property
  def tokens_per_parameter(self) -> np.ndarray:
    return self.d_opt / self.n_opt

  def rows(self) -> list[dict]:
    """One JSON-able row per budget, with `identifiable` and `n_covered` / `d_covered`: False
    when the bootstrap percentile interval of N_opt (D_opt) leaves out the estimate itself (the
    refits on resampled runs settled elsewhere than the fit on all runs, so the interval is no
    uncertainty around the estimate); True when it holds it or there is no interval."""
    ratio = (self.ratio_interval if self.ratio_interval is not None
             else np.full((2, len(self.flops)), np.nan))
    n_covered = _covers(self.n_opt, self.n_interval)
    d_covered = _covers(self.d_opt, self.d_interval)
    return [dict(source=self.source, convention=self.convention, flops=float(c),
                 n_opt=float(n), n_low=float(self.n_interval[0, i]),
                 n_high=float(self.n_interval[1, i]), d_opt=float(d),
                 d_low=float(self.d_interval[0, i]), d_high=float(self.d_interval[1, i]),
                 tokens_per_parameter=float(d / n), tokens_per_parameter_low=float(ratio[0, i]),
                 tokens_per_parameter_high=float(ratio[1, i]), level=self.level,
                 identifiable=self.identifiable, n_covered=bool(n_covered[i]),
                 d_covered=bool(d_covered[i]))
            for i, (c, n, d) in enumerate(zip(self.flops, self.n_opt, self.d_opt))]


def chinchilla_allocation(params: dict, flops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Closed-form (N_opt, D_opt) of L = E + A/N^alpha + B/D^beta under C = 6ND.

  Parameter values may be arrays (e.g. bootstrap samples); they broadcast against `flops`.
  """
  alpha, beta = np.asarray(params["alpha"]), np.asarray(params["beta"])
  scale = (alpha * np.asarray(params["A"]) / (beta * np.asarray(params["B"]))) ** (
      1.0 / (alpha + beta))
  compute = np.asarray(flops, dtype=np.float64) / 6.0
  n_opt = scale * compute ** (beta / (alpha + beta))
  d_opt = compute ** (alpha / (alpha + beta)) / scale
  return n_opt, d_opt


def from_chinchilla(params: dict, flops: np.ndarray, *, source: str, convention: str,
                    samples: dict[str, np.ndarray] | None = None,
                    level: float = 0.95, identifiable: bool = True) -> Allocation:
  """Allocation from fitted Approach-3 parameters; intervals from bootstrap `samples`;
  `identifiable` is the fit's verdict (`analysis.identifiability`)."""
  flops = np.asarray(flops, dtype=np.float64)
  n_opt, d_opt = chinchilla_allocation(params, flops)
  n_interval = d_interval = ratio_interval = np.full((2, len(flops)), np.nan)
  if samples is not None:
    columns = {k: np.asarray(samples[k])[:, None] for k in ("A", "B", "alpha", "beta")}
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
      n_samples, d_samples = chinchilla_allocation(columns, flops[None])
      ratio_samples = d_samples / n_samples
    n_interval, d_interval = _intervals(n_samples, level), _intervals(d_samples, level)
    ratio_interval = _intervals(ratio_samples, level)
  return Allocation(source, convention, flops, n_opt, d_opt, n_interval, d_interval, level,
                    ratio_interval, identifiable)


def from_power_laws(n_law: powerlaw.PowerLaw, d_law: powerlaw.PowerLaw, flops: np.ndarray, *,
                    source: str, convention: str,
                    samples: dict[str, np.ndarray] | None = None,
                    level: float = 0.95) -> Allocation:
  """Allocation from Approach 1/2 power laws; `samples` holds a, b, n_ and d_coefficient."""
  flops = np.asarray(flops, dtype=np.float64)
  n_interval = d_interval = ratio_interval = np.full((2, len(flops)), np.nan)
  if samples is not None:
    with np.errstate(over="ignore", invalid="ignore"):  # wild resamples give inf, not a crash
      n_samples = samples["n_coefficient"][:, None] * flops[None] ** samples["a"][:, None]
      d_samples = samples["d_coefficient"][:, None] * flops[None] ** samples["b"][:, None]
      ratio_samples = d_samples / n_samples
    n_interval, d_interval = _intervals(n_samples, level), _intervals(d_samples, level)
    ratio_interval = _intervals(ratio_samples, level)
  return Allocation(source, convention, flops, n_law(flops), d_law(flops), n_interval,
                    d_interval, level, ratio_interval)


def from_published(law: published.PublishedLaw, flops: np.ndarray) -> Allocation | None:
  """Allocation implied by a published law under C = 6ND; None when it states only exponents."""
  flops = np.asarray(flops, dtype=np.float64)
  if law.form == "chinchilla":
    n_opt, d_opt = chinchilla_allocation(law.params, flops)
  elif law.form == "kaplan_compute":
    n_opt = law.params["n_coefficient"] * (flops / published.PETAFLOP_DAY) ** law.a
    d_opt = flops / (6.0 * n_opt)
  else:
    return None
  nan = np.full((2, len(flops)), np.nan)
  n_text = "N non-embedding" if law.n_convention == "non_embedding" else "N total"
  convention = f"{n_text}, C = 6ND"
  return Allocation(law.label, convention, flops, n_opt, d_opt, nan, nan, float("nan"))


def _covers(estimate: np.ndarray, interval: np.ndarray) -> np.ndarray:
  """Per budget: the (2, budgets) `interval` holds `estimate`, or is missing (NaN: no claim)."""
  with np.errstate(invalid="ignore"):
    inside = (interval[0] <= estimate) & (estimate <= interval[1])
  return inside | np.any(np.isnan(interval), axis=0)


def _intervals(samples_SxB: np.ndarray, level: float) -> np.ndarray:
  return np.array([powerlaw.percentile_interval(column, level)
                   for column in samples_SxB.T]).T
