"""The report's figures: which ones an analysis has data for, drawn and saved as DIR/NAME.png.

Each figure is drawn by `plots`, `diagnostic_plots` or `rollout_plots` from the analysis's
fitted objects (parameters, tokens, FLOPs, loss in nats/token) and saved by `plots.save`. A
figure that cannot be drawn is left out with a warning (`auxiliary.attempt`).
"""
from collections.abc import Callable
import pathlib

import matplotlib.pyplot as plt
import numpy as np

from analysis.approaches import envelope
from analysis.approaches import optimal
from analysis.report import auxiliary
from analysis.report import diagnostic_plots
from analysis.report import markdown
from analysis.report import pipeline
from analysis.report import plots
from analysis.report import rollout_plots
from analysis.trust import intervals

# Every figure, in the report's order, with its title there.
TITLES = dict(loss_vs_compute="Loss against compute with the frontier",
              isoflop_profiles="IsoFLOP profiles with their parabolas",
              law_fit="Fitted L(N, D) against the runs, with prediction bands",
              excess_over_floor="Loss above the exact floor against N and D, with the fit",
              optimal_size="N_opt(C) against the published laws",
              residuals="Residuals of the L(N, D) fit against compute",
              residual_panels="Residuals against ln N, ln D and the prediction",
              residuals_by_budget="Residuals per IsoFLOP budget",
              extrapolation="Predicted against actual for held-out runs",
              rollout_errors="Rollout: held-out error against extrapolation distance",
              rollout_final_split="Rollout: the largest threshold's predictions")
NAMES = tuple(TITLES)


def draw(analysis: pipeline.Analysis, out_dir: pathlib.Path,
         warnings: list[str]) -> dict[str, pathlib.Path]:
  """Draws every figure the analysis has data for into `out_dir/NAME.png`: {name: path}. One
  that fails is left out and its failure appended to `warnings`."""
  drawn = {}
  for name, make in makers(analysis).items():
    path, _ = auxiliary.attempt(f"figure {name}", warnings,
                                lambda: plots.save(make(), out_dir / f"{name}.png"))
    if path is not None:
      drawn[name] = path
  return drawn


def makers(analysis: pipeline.Analysis) -> dict[str, Callable[[], plt.Figure]]:
  """name -> a call that draws the figure, for each figure the analysis has data for."""
  runs = analysis.runs
  n_label, c_label = markdown.convention_label(analysis.conventions).split(", ")

  def predict(n, d):
    return intervals.predict(analysis.approach3.form, analysis.approach3.params, dict(n=n, d=d))

  def band(n, d):
    interval = intervals.prediction_interval(analysis.approach3_bootstrap, dict(n=n, d=d),
                                             noise=analysis.noise)
    return interval.low, interval.high

  figures = dict(
      loss_vs_compute=lambda: loss_vs_compute(analysis, c_label),
      law_fit=lambda: plots.law_fit(runs["n"], runs["d"], runs["c"], runs["loss"], predict,
                                    band=band, n_label=n_label),
      optimal_size=lambda: optimal_size(analysis),
      residuals=lambda: plots.residuals(runs["c"], runs["loss"], predict(runs["n"], runs["d"]),
                                        c_label=c_label))
  truth = analysis.summary["approach3"].get("known_floor")
  if truth:
    figures["excess_over_floor"] = lambda: plots.excess_over_floor(
        runs["n"], runs["d"], runs["loss"], truth["floor"], predict, n_label=n_label)
  if analysis.approach2 is not None:
    figures["isoflop_profiles"] = lambda: plots.isoflop_profiles(analysis.approach2,
                                                                 n_label=n_label)
  diagnostics = analysis.diagnostics
  if diagnostics is not None:
    figures["residual_panels"] = lambda: diagnostic_plots.residual_panels(
        diagnostics, n_label=n_label, d_label="tokens D")
  if diagnostics is not None and diagnostics.budgets:
    figures["residuals_by_budget"] = lambda: diagnostic_plots.residuals_by_budget(diagnostics)
  result = analysis.extrapolation
  if result is not None:
    held_out = analysis.summary.get("calibration", {}).get("held_out", {}).get("runs")
    calibrated = None if not held_out else (
        np.array([run["predicted"] for run in held_out]),
        np.array([[run["low"] for run in held_out], [run["high"] for run in held_out]]))
    figures["extrapolation"] = lambda: plots.extrapolation(
        result.actual, result.predicted, result.prediction_interval, level=result.level,
        calibrated=calibrated)
  if analysis.rollout is not None:
    figures["rollout_errors"] = lambda: rollout_plots.error_vs_distance(analysis.rollout)
    figures["rollout_final_split"] = lambda: rollout_plots.final_split(analysis.rollout)
  return figures


def _largest_table_budget(analysis: pipeline.Analysis) -> float:
  """The largest budget (FLOPs) of the allocation table."""
  return max(row["flops"] for row in analysis.summary["optimal_allocation"]["rows"])


def loss_vs_compute(analysis: pipeline.Analysis, c_label: str) -> plt.Figure:
  """Loss against C with the frontier, the fitted L(C), Approach 1's envelope and Approach 3's
  optimal loss with its one-run band from the smallest observed C to the largest table budget."""
  runs, form, params = analysis.runs, analysis.approach3.form, analysis.approach3.params
  frontier_fit = analysis.single_variable.get("c")

  def frontier_law(flops):
    return intervals.predict(frontier_fit.form, frontier_fit.params, dict(c=flops))

  envelope_curve = None
  if analysis.approach1 is not None:
    envelope_curve = (analysis.approach1.flops, analysis.approach1.envelope_loss)
  grid = np.geomspace(runs["c"].min(), max(_largest_table_budget(analysis), runs["c"].max()), 60)
  optimal_band = intervals.compute_optimal_interval(analysis.approach3_bootstrap, grid,
                                                    noise=analysis.noise)
  return plots.loss_vs_compute(
      runs["c"], runs["loss"], envelope.lower_envelope(runs["c"], runs["loss"]),
      frontier_law=frontier_law if frontier_fit is not None else None,
      envelope=envelope_curve, c_label=c_label,
      optimal=(grid, optimal.optimal_point(form, params, grid)[2], optimal_band.low,
               optimal_band.high))


def optimal_size(analysis: pipeline.Analysis) -> plt.Figure:
  """N_opt(C) curves from the smallest observed budget to the largest table budget, with
  Approach 2's IsoFLOP minima where it was fitted."""
  runs = analysis.runs
  curves = analysis.allocations_at(np.geomspace(runs["c"].min(),
                                                _largest_table_budget(analysis), 60))
  points = None
  if analysis.approach2 is not None:
    points = (np.array([b.flops for b in analysis.approach2.budgets]),
              np.array([b.n_opt for b in analysis.approach2.budgets]))
  return plots.optimal_size(curves, points=points,
                            observed_range=(float(runs["c"].min()), float(runs["c"].max())))
