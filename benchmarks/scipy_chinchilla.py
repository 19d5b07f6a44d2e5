"""An independent Chinchilla fit in numpy and scipy, the baseline of benchmarks/fit_speed.py and
the cross-check of tests/analysis/fitting/fit_test.py, and the one loader of Epoch's points.

L(N, D) = E + A / N^alpha + B / D^beta fitted as Hoffmann et al. 2022 (App. D.2) and Besiroglu
et al. 2024 do: the Huber loss (delta) of log L against log loss, L-BFGS-B with the analytic
gradient from each start, the lowest objective kept. Coordinates (a, b, e, alpha, beta) with
A = exp(a), B = exp(b), E = exp(e).
"""
import csv
import itertools
import pathlib
from collections.abc import Sequence

import numpy as np
import scipy.optimize
import scipy.special


def load_epoch(path: str | pathlib.Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Epoch's 240 Chinchilla points (chinchilla_epoch/svg_extracted_data.csv) less the 5 highest
  losses, as Besiroglu et al. 2024 fit them: N (parameters), D = C / 6N (tokens), loss
  (nats/token)."""
  with open(path) as handle:
    rows = list(csv.DictReader(handle))
  n = np.array([float(row["Model Size"]) for row in rows])
  flops = np.array([float(row["Training FLOP"]) for row in rows])
  loss = np.array([float(row["loss"]) for row in rows])
  keep = loss < np.sort(loss)[-5]
  return n[keep], flops[keep] / (6 * n[keep]), loss[keep]


def hoffmann_grid() -> list[tuple[float, ...]]:
  """Hoffmann's 4500 starts, in the (a, b, e, alpha, beta) order Epoch iterates them."""
  return list(itertools.product(np.arange(0, 30, 5), np.arange(0, 30, 5),
                                np.arange(-1, 1.5, 0.5), np.arange(0, 2.5, 0.5),
                                np.arange(0, 2.5, 0.5)))


def fit(n: np.ndarray, d: np.ndarray, loss: np.ndarray, starts: Sequence[Sequence[float]],
        delta: float = 1e-3, box: Sequence[tuple[float, float]] | None = None
        ) -> tuple[dict[str, float], np.ndarray]:
  """The best fit over `starts` (`box`: L-BFGS-B bounds in the coordinates above).

  Returns the best parameters (E, A, B, alpha, beta) and the objective reached from each start.
  """
  log_n, log_d, log_loss = np.log(n), np.log(d), np.log(loss)

  def objective_and_gradient(x):
    a, b, e, alpha, beta = x
    terms = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])
    log_prediction = scipy.special.logsumexp(terms, axis=0)
    residual = log_prediction - log_loss
    share = np.exp(terms - log_prediction)
    value = np.where(np.abs(residual) <= delta, 0.5 * residual**2,
                     delta * (np.abs(residual) - 0.5 * delta)).sum()
    slope = np.clip(residual, -delta, delta)
    gradient = np.array([slope @ share[0], slope @ share[1], slope @ share[2],
                         -(slope * share[0]) @ log_n, -(slope * share[1]) @ log_d])
    return value, gradient

  results = [scipy.optimize.minimize(objective_and_gradient, np.asarray(x0, float), jac=True,
                                     method="L-BFGS-B", bounds=box) for x0 in starts]
  values = np.array([result.fun for result in results])
  a, b, e, alpha, beta = results[int(np.argmin(values))].x
  return dict(E=np.exp(e), A=np.exp(a), B=np.exp(b), alpha=alpha, beta=beta), values
