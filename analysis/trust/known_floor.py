"""The truth beside the fit: a law's fitted E against the known loss floor of its corpus.

A corpus whose Bayes-optimal loss is known exactly (the topics language, `data.topics`; runs
record it as `loss_floor` in result.json and results.csv) lets the analysis say how far the
fitted irreducible loss E is from the truth, and whether E's interval covers it. Losses are in
nats/token; the relative miss is (E - floor) / floor.
"""
import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

# Runs whose recorded floors differ by more than this (relative) were evaluated on different
# validation sets: no single floor applies to the fit.
SAME_FLOOR_TOLERANCE = 1e-9


@dataclasses.dataclass(frozen=True)
class FloorCheck:
  """E (its `level` interval [low, high]) against the known floor, nats/token."""
  floor: float
  e: float
  low: float
  high: float
  level: float

  @property
  def miss(self) -> float:
    """E - floor (nats/token): negative when the fit puts the floor too low."""
    return self.e - self.floor

  @property
  def relative_miss(self) -> float:
    """(E - floor) / floor."""
    return self.miss / self.floor

  @property
  def covered(self) -> bool:
    """Whether E's interval holds the floor."""
    return self.low <= self.floor <= self.high

  def to_json(self) -> dict[str, Any]:
    """The fits.json block: the floor, E and its interval, the misses and the coverage."""
    return dict(floor=self.floor, E=self.e, ci=[self.low, self.high], level=self.level,
                miss=self.miss, relative_miss=self.relative_miss, covered=self.covered)

  def line(self) -> str:
    """One report line: E, its interval, the floor, the miss and whether it is covered."""
    verdict = "covers" if self.covered else "does NOT cover"
    return (f"E = {self.e:.4g} nats/token, {self.level:.0%} interval [{self.low:.4g}, "
            f"{self.high:.4g}]; the true floor is {self.floor:.4g}: E misses it by "
            f"{self.miss:+.3g} ({self.relative_miss:+.1%}), and the interval {verdict} it")


def common_floor(floors: Sequence[float]) -> float | None:
  """The one floor of a set of runs (NaN entries: runs that do not know it), or None when no
  run knows it; ValueError when the known ones differ (different validation sets)."""
  known = np.asarray([value for value in floors if math.isfinite(value)], np.float64)
  if not known.size:
    return None
  if np.max(known) - np.min(known) > SAME_FLOOR_TOLERANCE * np.max(np.abs(known)):
    raise ValueError(f"the runs record different loss floors ({np.min(known):.6g} to "
                     f"{np.max(known):.6g} nats/token): they were evaluated on different "
                     "validation sets; fit runs of one validation set")
  return float(known[0])


def check(floor: float, e: float, interval: Sequence[float], level: float) -> FloorCheck:
  """E with its `level` interval (low, high) against `floor` (all nats/token)."""
  if not floor > 0:
    raise ValueError(f"loss floor {floor} must be a positive loss in nats/token")
  low, high = (float(bound) for bound in interval)
  return FloorCheck(floor=float(floor), e=float(e), low=low, high=high, level=float(level))
