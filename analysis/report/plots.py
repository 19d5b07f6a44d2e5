"""Figures of a scaling-law analysis (matplotlib, Agg backend), saved as PNG files by `save`.

Every figure function takes plain arrays (parameters, tokens, FLOPs, loss in nats/token) and
returns the figure it drew; `save` writes a figure to a path and closes it. Axis labels name the
N and C conventions.
"""
from collections.abc import Callable, Sequence
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from analysis.approaches import isoflop  # noqa: E402
from analysis.approaches import optimal  # noqa: E402

_DPI = 110


def save(figure: plt.Figure, path: str | pathlib.Path) -> pathlib.Path:
  """Writes `figure` to `path` as a PNG (tight layout, the report's resolution) and closes it."""
  path = pathlib.Path(path)
  figure.tight_layout()
  figure.savefig(path, dpi=_DPI)
  plt.close(figure)
  return path


def loss_vs_compute(flops: np.ndarray, loss: np.ndarray, frontier: np.ndarray, *,
                    frontier_law: Callable | None = None,
                    envelope: tuple[np.ndarray, np.ndarray] | None = None,
                    optimal: tuple[np.ndarray, ...] | None = None,
                    c_label: str = "C") -> plt.Figure:
  """Final loss of every run against compute, the frontier runs, the fitted L(C), and
  `optimal` = (C, loss, low, high): a law's loss at the compute-optimal point of each C with a
  one-run prediction band."""
  figure, axis = plt.subplots(figsize=(6.4, 4.4))
  if optimal is not None:
    grid, optimal_loss, low, high = optimal
    axis.plot(grid, optimal_loss, color="C0", lw=1.2, label="L(N, D) at the optimum")
    axis.fill_between(grid, low, high, color="C0", alpha=0.15, label="one-run interval")
  axis.scatter(flops, loss, s=12, color="0.6", label="runs")
  axis.scatter(flops[frontier], loss[frontier], s=22, color="C3", label="frontier runs")
  if envelope is not None:
    axis.plot(envelope[0], envelope[1], color="C2", lw=1.5, label="envelope of curves")
  if frontier_law is not None:
    grid = np.geomspace(flops.min(), flops.max(), 200)
    axis.plot(grid, frontier_law(grid), color="C3", lw=1.5, label="fitted L(C)")
  axis.set(xscale="log", xlabel=f"training compute {c_label} (FLOPs)",
           ylabel="final loss (nats/token)", title="Loss against compute")
  axis.legend()
  return figure


def isoflop_profiles(result: isoflop.Approach2Result, *, n_label: str = "N") -> plt.Figure:
  """Each IsoFLOP budget's runs, its parabola in ln N over the sizes it was fitted to, and the
  minimum; the runs of budgets left out of the power laws in grey squares."""
  figure, axis = plt.subplots(figsize=(6.4, 4.4))
  colours = plt.cm.viridis(np.linspace(0, 0.9, len(result.budgets)))
  for budget, colour in zip(result.budgets, colours):
    axis.scatter(budget.n, budget.loss, s=12, color=colour)
    grid = np.geomspace(*budget.fitted_n, 100)
    axis.plot(grid, np.polyval(budget.parabola, np.log(grid)), color=colour, lw=1.2,
              label=f"{budget.flops:.2g} FLOPs")
    axis.scatter([budget.n_opt], [budget.loss_opt], marker="x" if budget.at_edge else "*",
                 s=60, color="k", zorder=3)
  for budget in result.left_out:
    axis.scatter(budget.n, budget.loss, s=12, color="0.6", marker="s",
                 label=f"{budget.flops:.2g} FLOPs, left out ({budget.reason})")
  axis.set(xscale="log", xlabel=f"parameters {n_label}", ylabel="final loss (nats/token)",
           title="IsoFLOP profiles (Approach 2); * minimum, x at the edge")
  axis.legend(fontsize=7, ncol=2)
  return figure


def law_fit(n: np.ndarray, d: np.ndarray, flops: np.ndarray, loss: np.ndarray,
            predict: Callable[[np.ndarray, np.ndarray], np.ndarray], *,
            band: Callable | None = None, n_label: str = "N") -> plt.Figure:
  """Fitted L(N, D) against the runs: IsoFLOP slices L(N, C/(6N)) with `band(n, d)` -> (low,
  high), a prediction band, shaded when given; and predicted against actual."""
  figure, (slices, scatter) = plt.subplots(1, 2, figsize=(11, 4.4))
  labels, budgets = isoflop.group_budgets(flops)
  colours = plt.cm.viridis(np.linspace(0, 0.9, max(len(budgets), 1)))
  slices.scatter(n[labels < 0], loss[labels < 0], s=10, color="0.7", label="other runs")
  for group, (budget, colour) in enumerate(zip(budgets, colours)):
    members = labels == group
    slices.scatter(n[members], loss[members], s=12, color=colour)
    grid = np.geomspace(n[members].min() / 2, n[members].max() * 2, 100)
    slices.plot(grid, predict(grid, budget / (6 * grid)), color=colour, lw=1.2,
                label=f"{budget:.2g} FLOPs")
    if band is not None:
      slices.fill_between(grid, *band(grid, budget / (6 * grid)), color=colour, alpha=0.15)
  slices.set(xscale="log", xlabel=f"parameters {n_label}", ylabel="final loss (nats/token)",
             title="L(N, D) along IsoFLOP slices, D = C/(6N)")
  slices.legend(fontsize=7, ncol=2)
  predicted = predict(n, d)
  scatter.scatter(loss, predicted, s=10, c=np.log10(flops), cmap="viridis")
  limits = [min(loss.min(), predicted.min()), max(loss.max(), predicted.max())]
  scatter.plot(limits, limits, color="k", lw=0.8)
  scatter.set(xlabel="actual loss (nats/token)", ylabel="fitted loss (nats/token)",
              title="Fitted against actual (colour: log10 C)")
  return figure


def excess_over_floor(n: np.ndarray, d: np.ndarray, loss: np.ndarray, floor: float,
                      predict: Callable[[np.ndarray, np.ndarray], np.ndarray], *,
                      n_label: str = "N") -> plt.Figure:
  """Loss above a corpus's exact floor (nats/token, log scale) against N at each D and against
  D at each N, the runs as points and the fitted L(N, D) - floor as lines: power laws in N and
  D are straight lines here while the fitted E is near the floor."""
  figure, (by_n, by_d) = plt.subplots(1, 2, figsize=(11, 4.4))
  panels = ((by_n, n, d, "tokens D", f"parameters {n_label}"),
            (by_d, d, n, "N", "tokens D"))
  for axis, x, series, series_name, x_label in panels:
    values = np.unique(series)
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(values)))
    grid = np.geomspace(x.min(), x.max(), 60)
    for value, colour in zip(values, colours):
      members = series == value
      axis.scatter(x[members], loss[members] - floor, s=12, color=colour,
                   label=f"{series_name} = {value:.3g}")
      fitted = predict(grid, np.full_like(grid, value)) if x is n else predict(
          np.full_like(grid, value), grid)
      axis.plot(grid, fitted - floor, color=colour, lw=1.0)
    axis.set(xscale="log", yscale="log", xlabel=x_label,
             ylabel=f"loss - floor {floor:.4g} (nats/token)")
    axis.legend(fontsize=6, ncol=2)
  by_n.set_title("Loss above the floor against N (lines: the fit)")
  by_d.set_title("Loss above the floor against D (lines: the fit)")
  return figure


def optimal_size(allocations: Sequence[optimal.Allocation], *,
                 points: tuple[np.ndarray, np.ndarray] | None = None,
                 observed_range: tuple[float, float] | None = None) -> plt.Figure:
  """N_opt(C) of each allocation (interval band where known; published laws dashed)."""
  figure, axis = plt.subplots(figsize=(6.4, 4.4))
  for index, allocation in enumerate(allocations):
    style = "--" if np.isnan(allocation.level) else "-"
    line, = axis.plot(allocation.flops, allocation.n_opt, style, lw=1.4,
                      label=f"{allocation.source}", color=f"C{index % 10}")
    if np.all(np.isfinite(allocation.n_interval)):
      axis.fill_between(allocation.flops, allocation.n_interval[0], allocation.n_interval[1],
                        color=line.get_color(), alpha=0.15)
  if points is not None:
    axis.scatter(points[0], points[1], color="k", s=18, zorder=3, label="IsoFLOP minima")
  if observed_range is not None:
    axis.axvspan(*observed_range, color="0.9", zorder=0, label="observed compute")
  axis.set(xscale="log", yscale="log", xlabel="training compute C (FLOPs)",
           ylabel="compute-optimal parameters N_opt", title="N_opt(C): fits and published laws")
  axis.legend(fontsize=7)
  return figure


def residuals(flops: np.ndarray, loss: np.ndarray, predicted: np.ndarray, *,
              c_label: str = "C") -> plt.Figure:
  """Log residuals r = ln(predicted) - ln(actual) of the L(N, D) fit against compute.

  The project's sign convention: r > 0 where the law over-predicts the loss.
  """
  figure, axis = plt.subplots(figsize=(6.4, 3.6))
  axis.scatter(flops, np.log(predicted) - np.log(loss), s=10, color="C0")
  axis.axhline(0.0, color="k", lw=0.8)
  axis.set(xscale="log", xlabel=f"training compute {c_label} (FLOPs)",
           ylabel="r = ln(predicted) - ln(actual)", title="Residuals of the L(N, D) fit")
  return figure


def extrapolation(actual: np.ndarray, predicted: np.ndarray, interval: np.ndarray, *,
                  level: float, calibrated: tuple[np.ndarray, np.ndarray] | None = None
                  ) -> plt.Figure:
  """Held-out runs: predicted loss (with its `level` bootstrap interval [2, runs]) against the
  actual loss; beside each, when given, the calibrated prediction and interval (point [runs],
  interval [2, runs]), drawn slightly to the right."""
  figure, axis = plt.subplots(figsize=(5.2, 4.4))
  errors = np.abs(interval - predicted[None])
  axis.errorbar(actual, predicted, yerr=errors, fmt="o", ms=4, capsize=2, color="C1",
                label=f"held out, bootstrap ({level:.0%} interval)")
  limits = [min(actual.min(), interval.min()), max(actual.max(), interval.max())]
  if calibrated is not None:
    point, band = calibrated
    shift = 0.01 * (limits[1] - limits[0])
    axis.errorbar(actual + shift, point, yerr=np.abs(band - point[None]), fmt="s", ms=3,
                  capsize=2, color="C2", label=f"calibrated by the record ({level:.0%} interval)")
    limits = [min(limits[0], band.min()), max(limits[1], band.max())]
  axis.plot(limits, limits, color="k", lw=0.8)
  axis.set(xlabel="actual loss (nats/token)", ylabel="predicted loss (nats/token)",
           title="Held-out extrapolation")
  axis.legend(fontsize=8)
  return figure
