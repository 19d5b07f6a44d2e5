"""Power laws y = coefficient * x^exponent fitted by least squares in log-log space.

Used for the compute-optimal laws of Approaches 1 and 2: N_opt(C) = k_N C^a (parameters),
D_opt(C) = k_D C^b (tokens), C in FLOPs. Helpers fit many resamples at once through
observation weights (a bootstrap resample is a vector of counts).
"""
import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class PowerLaw:
  """y = coefficient * x^exponent; `n_points` is how many (x, y) pairs the fit used."""
  coefficient: float
  exponent: float
  n_points: int

  def __call__(self, x: np.ndarray | float) -> np.ndarray:
    return self.coefficient * np.asarray(x, dtype=np.float64) ** self.exponent

  def to_json(self) -> dict:
    return dict(coefficient=self.coefficient, exponent=self.exponent, n_points=self.n_points)


def fit_power_law(x: np.ndarray, y: np.ndarray) -> PowerLaw:
  """Least squares of log y on log x; needs >= 2 distinct positive x."""
  x = np.asarray(x, dtype=np.float64)
  y = np.asarray(y, dtype=np.float64)
  if x.shape != y.shape or x.ndim != 1:
    raise ValueError(f"fit_power_law: x and y must be 1-D of one length, got {x.shape} {y.shape}")
  if np.any(x <= 0) or np.any(y <= 0):
    raise ValueError("fit_power_law: x and y must be positive (they are logged)")
  if len(np.unique(x)) < 2:
    raise ValueError("fit_power_law: needs at least 2 distinct x values")
  slope, intercept = weighted_lines(np.log(x), np.log(y)[None], np.ones((1, len(x))))
  return PowerLaw(float(np.exp(intercept[0])), float(slope[0]), len(x))


def weighted_lines(x: np.ndarray, y_SxM: np.ndarray, weights_SxM: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
  """Weighted least-squares lines y = slope * x + intercept, one per row of S.

  `x` (M,) is shared, or (S, M) per row; rows whose weights cover < 2 distinct x get NaN.
  """
  x_SxM = np.broadcast_to(x, y_SxM.shape)
  total = weights_SxM.sum(axis=1)
  with np.errstate(invalid="ignore", divide="ignore"):
    mean_x = (weights_SxM * x_SxM).sum(axis=1) / total
    mean_y = (weights_SxM * y_SxM).sum(axis=1) / total
    centred_x = x_SxM - mean_x[:, None]
    spread = (weights_SxM * centred_x ** 2).sum(axis=1)
    slope = (weights_SxM * centred_x * (y_SxM - mean_y[:, None])).sum(axis=1) / spread
  degenerate = ~(spread > 1e-12 * np.maximum(total, 1.0))
  slope = np.where(degenerate, np.nan, slope)
  intercept = np.where(degenerate, np.nan, mean_y - slope * mean_x)
  return slope, intercept


class AllocationLaws:
  """For results holding power laws N_opt ~ C^a (`n_opt_law`) and D_opt ~ C^b (`d_opt_law`),
  bootstrap `samples` and `level` intervals `ci`: the exponents and their shared JSON fields."""

  @property
  def a(self) -> float:
    return self.n_opt_law.exponent

  @property
  def b(self) -> float:
    return self.d_opt_law.exponent

  def allocation_json(self) -> dict:
    return dict(a=self.a, b=self.b, n_opt_law=self.n_opt_law.to_json(),
                d_opt_law=self.d_opt_law.to_json(), ci={k: list(v) for k, v in self.ci.items()},
                level=self.level, n_resamples=len(self.samples["a"]))
