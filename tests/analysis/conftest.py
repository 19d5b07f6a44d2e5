"""Fixtures shared by the analysis tests."""
import numpy as np
import pytest

from analysis.laws import catalogue

# The Chinchilla law the synthetic runs follow: loss in nats/token, N parameters, D tokens.
ISOFLOP_LAW = dict(E=1.8, A=480.0, B=2100.0, alpha=0.35, beta=0.37)


@pytest.fixture
def isoflop_runs():
  """A maker of IsoFLOP tables: `isoflop_runs(first_flops, noise=0.003, seed=0)` gives four
  budgets a decade apart from `first_flops` (FLOPs), six sizes each from a fifth to five times
  0.6 sqrt(C / 6) parameters, D = C / 6N tokens, and losses (nats/token) of `law` (ISOFLOP_LAW)
  times exp of Gaussian log-noise of sd `noise`: dict(n, d, c, loss, law), runs by budget.

  From 1e18 FLOPs the shapes are those of the report tests' table, so one compiled search
  serves both.
  """
  def make(first_flops: float, *, noise: float = 0.003, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    n, c = [], []
    for flops in np.geomspace(first_flops, first_flops * 1e3, 4):
      optimum = 0.6 * (flops / 6) ** 0.5
      n.extend(np.geomspace(optimum / 5, optimum * 5, 6))
      c.extend([flops] * 6)
    n, c = np.array(n), np.array(c)
    d = c / (6 * n)
    loss = catalogue.CHINCHILLA.predict(ISOFLOP_LAW, n=n, d=d) * np.exp(
        rng.normal(0, noise, n.size))
    return dict(n=n, d=d, c=c, loss=loss, law=dict(ISOFLOP_LAW))
  return make
