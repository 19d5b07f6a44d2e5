"""The learning-rate fits: the optimum of one size's LR grid, and the law LR*(N) or LR*(N, D).

One module for the sweep's learning-rate search (`scaling.lr_search`, which trains the rest of a
sweep with the law) and for the report (`analysis.report.learning_rate`), so both read the same
numbers. It sits in `scaling`, below `analysis`, because the launcher needs it.

  * Optimum: loss = a x^2 + b x + c_g, x = ln(peak learning rate), least squares, with one
    intercept c_g per group (e.g. per token budget D, when several share a size: their curves
    share the curvature and the optimum and differ in height). The optimum is x* = -b / 2a;
    its interval comes from the coefficients' covariance (the residual variance times
    (X^T X)^-1) by the delta method, with Student-t quantiles on n - p degrees of freedom
    (no interval when the points leave no residual degree of freedom).
  * Edge: an optimum is at the low or high edge of its grid when the lowest loss is at the
    grid's smallest or largest learning rate, when the vertex lies outside the grid (then the
    optimum is that end of the grid, a bound, with no interval), or when the fitted parabola
    opens downward (then the optimum is the best grid point).
  * Law: ln LR* = ln k + alpha ln N (+ beta ln D) by least squares over the sizes, with
    t-intervals on the exponents. N is whatever count the caller passes (the sweep's:
    non-embedding parameters), D in tokens.
"""
import dataclasses
import math
from typing import Sequence

import numpy as np
from scipy import stats

LOW, HIGH = "low", "high"


@dataclasses.dataclass(frozen=True)
class Optimum:
  """The fitted optimum of one learning-rate grid (learning rates as peak LRs)."""
  learning_rate: float                # exp(x*); the grid's end beyond which x* lies (a bound),
                                      #   or the best grid point when not convex
  interval: tuple[float, float]       # at `level`; (nan, nan) when undefined
  level: float
  learning_rates: tuple[float, ...]   # the grid tried, one per point
  losses: tuple[float, ...]           # nats/token
  curvature: float                    # a, d loss / d (ln lr)^2 / 2
  minimum_loss: float                 # the fitted loss at the vertex (first group)
  edge: str                           # '' | 'low' | 'high'
  vertex: float                       # x* = ln(lr) of the parabola's vertex (may lie far out)

  @property
  def convex(self) -> bool:
    return self.curvature > 0

  def to_json(self) -> dict:
    return dict(learning_rate=self.learning_rate, interval=list(self.interval),
                level=self.level, learning_rates=list(self.learning_rates),
                losses=list(self.losses), curvature=self.curvature,
                minimum_loss=self.minimum_loss, at_edge=self.edge, vertex=self.vertex)

  def curve(self, learning_rates: np.ndarray) -> np.ndarray:
    """The fitted parabola's loss (first group) at `learning_rates`."""
    x = np.log(np.asarray(learning_rates, dtype=np.float64))
    return self.minimum_loss + self.curvature * (x - self.vertex) ** 2


def _t_quantile(level: float, dof: int) -> float:
  return float(stats.t.ppf(0.5 + level / 2, dof)) if dof > 0 else math.nan


def fit_optimum(learning_rates: Sequence[float], losses: Sequence[float],
                groups: Sequence[object] | None = None, level: float = 0.95) -> Optimum:
  """The log-quadratic optimum of loss against ln(learning rate), one intercept per group.

  Needs at least 3 distinct learning rates (ValueError otherwise)."""
  lr = np.asarray(learning_rates, dtype=np.float64)
  loss = np.asarray(losses, dtype=np.float64)
  if lr.shape != loss.shape or lr.ndim != 1 or np.any(lr <= 0) or not np.all(np.isfinite(loss)):
    raise ValueError("fit_optimum: learning rates (positive) and finite losses must be 1-D "
                     "arrays of one length")
  if len(np.unique(lr)) < 3:
    raise ValueError(f"fit_optimum: needs at least 3 distinct learning rates, got "
                     f"{len(np.unique(lr))}")
  labels = list(groups) if groups is not None else [0] * len(lr)
  names = list(dict.fromkeys(labels))
  x = np.log(lr)
  design = np.column_stack([x ** 2, x, *[[label == name for label in labels] for name in names]])
  design = design.astype(np.float64)
  coefficients, _, rank, _ = np.linalg.lstsq(design, loss, rcond=None)
  if rank < design.shape[1]:
    raise ValueError("fit_optimum: every group needs learning rates the others share "
                     "(the design is rank deficient)")
  a, b = float(coefficients[0]), float(coefficients[1])
  best = int(np.argmin(loss)) if len(names) == 1 else None
  order = np.sort(np.unique(x))
  edge = ""
  if best is not None and x[best] == order[0]:
    edge = LOW
  elif best is not None and x[best] == order[-1]:
    edge = HIGH
  interval = (math.nan, math.nan)
  if a > 0:
    x_star = estimate = -b / (2 * a)
    if x_star < order[0]:
      edge, estimate = LOW, order[0]
    elif x_star > order[-1]:
      edge, estimate = HIGH, order[-1]
    dof = len(loss) - design.shape[1]
    if dof > 0 and estimate == x_star:
      residual = loss - design @ coefficients
      covariance = (residual @ residual / dof) * np.linalg.inv(design.T @ design)
      gradient = np.zeros(design.shape[1])
      gradient[:2] = [b / (2 * a * a), -1 / (2 * a)]
      half = _t_quantile(level, dof) * math.sqrt(max(gradient @ covariance @ gradient, 0.0))
      interval = (math.exp(x_star - half), math.exp(x_star + half))
  else:
    fitted = design @ coefficients
    x_star = estimate = float(x[int(np.argmin(fitted))])
    edge = edge or (LOW if x_star == order[0] else HIGH if x_star == order[-1] else "")
  minimum = float(a * x_star ** 2 + b * x_star + coefficients[2])
  return Optimum(learning_rate=math.exp(estimate), interval=interval, level=level,
                 learning_rates=tuple(lr.tolist()), losses=tuple(loss.tolist()), curvature=a,
                 minimum_loss=minimum, edge=edge, vertex=float(x_star))


@dataclasses.dataclass(frozen=True)
class LearningRateLaw:
  """LR*(N, D) = coefficient x N^n_exponent x D^d_exponent (d_exponent 0 when D is not fitted)."""
  coefficient: float
  n_exponent: float
  n_exponent_interval: tuple[float, float]
  d_exponent: float
  d_exponent_interval: tuple[float, float] | None  # None when D is not a variable of the law
  level: float
  n_points: int

  def __call__(self, n: np.ndarray | float, d: np.ndarray | float | None = None) -> np.ndarray:
    n = np.asarray(n, dtype=np.float64)
    d_factor = 1.0 if d is None or self.d_exponent_interval is None else (
        np.asarray(d, dtype=np.float64) ** self.d_exponent)
    return self.coefficient * n ** self.n_exponent * d_factor

  def to_json(self) -> dict:
    return dict(coefficient=self.coefficient, n_exponent=self.n_exponent,
                n_exponent_interval=list(self.n_exponent_interval), d_exponent=self.d_exponent,
                d_exponent_interval=(list(self.d_exponent_interval)
                                     if self.d_exponent_interval is not None else None),
                level=self.level, n_points=self.n_points)


def fit_law(n: Sequence[float], learning_rates: Sequence[float],
            d: Sequence[float] | None = None, level: float = 0.95) -> LearningRateLaw:
  """Least squares of ln LR* on ln N (and ln D): needs 2 distinct N (3 points with D)."""
  n = np.asarray(n, dtype=np.float64)
  y = np.log(np.asarray(learning_rates, dtype=np.float64))
  columns = [np.ones_like(n), np.log(n)]
  if d is not None:
    columns.append(np.log(np.asarray(d, dtype=np.float64)))
  design = np.column_stack(columns)
  if len(np.unique(n)) < 2 or np.linalg.matrix_rank(design) < design.shape[1]:
    raise ValueError(f"fit_law: {len(n)} optima over {len(np.unique(n))} sizes do not "
                     f"determine LR*(N{', D' if d is not None else ''}); search more sizes")
  coefficients, _, _, _ = np.linalg.lstsq(design, y, rcond=None)
  dof = len(y) - design.shape[1]
  if dof > 0:
    residual = y - design @ coefficients
    errors = np.sqrt(np.diag((residual @ residual / dof) * np.linalg.inv(design.T @ design)))
  else:
    errors = np.full(design.shape[1], math.nan)
  half = _t_quantile(level, dof) * errors

  def interval(index: int) -> tuple[float, float]:
    return (float(coefficients[index] - half[index]), float(coefficients[index] + half[index]))
  return LearningRateLaw(
      coefficient=float(math.exp(coefficients[0])), n_exponent=float(coefficients[1]),
      n_exponent_interval=interval(1),
      d_exponent=float(coefficients[2]) if d is not None else 0.0,
      d_exponent_interval=interval(2) if d is not None else None, level=level, n_points=len(y))


def distance(learning_rate: float, optimum: float) -> float:
  """How far a learning rate is from an optimum, in factors of 2 (log2 ratio; + is above)."""
  return math.log2(learning_rate / optimum)
