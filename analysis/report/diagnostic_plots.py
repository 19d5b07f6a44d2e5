"""Figures of residual diagnostics (`residuals.Diagnostics`), matplotlib with the Agg backend.

Residuals are r = ln(predicted loss) - ln(observed loss), loss in nats/token; r > 0 is an
over-prediction. Every function returns the figure it drew (`plots.save` writes it).
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from analysis.trust import residuals as residuals_lib  # noqa: E402

_STRIP_HALF_WIDTH = 0.35


def _trend_label(trend: dict) -> str:
  if "skipped" in trend:
    return f"trend test skipped: {trend['skipped']}"
  return f"slope {trend['slope']:.3g}, p={trend['p_value']:.2g}"


def _panel(axis: plt.Axes, x: np.ndarray | None, diagnostics: residuals_lib.Diagnostics,
           trend: dict | None, xlabel: str) -> None:
  axis.axhline(0.0, color="k", lw=0.8)
  axis.set(xlabel=xlabel, ylabel="r = ln(predicted) - ln(observed)")
  if x is None:
    axis.text(0.5, 0.5, "not among the inputs", transform=axis.transAxes, ha="center")
    return
  axis.scatter(x, diagnostics.residuals, s=12, color="C0")
  if trend is not None and "slope" in trend:
    grid = np.linspace(x.min(), x.max(), 2)
    significant = trend["p_value"] < diagnostics.significance
    axis.plot(grid, trend["intercept"] + trend["slope"] * grid, color="C3" if significant
              else "0.4", lw=1.2, ls="-" if significant else "--")
  axis.set_title(_trend_label(trend) if trend is not None else "", fontsize=8)


def residual_panels(diagnostics: residuals_lib.Diagnostics, *, n_label: str = "N",
                    d_label: str = "D") -> plt.Figure:
  """Three panels: r against ln N, ln D and ln(predicted loss), each with its trend line.

  A trend line is solid red when significant at `diagnostics.significance`, dashed grey
  otherwise. A panel whose input is missing from the diagnostics says so.
  """
  figure, axes = plt.subplots(1, 3, figsize=(13, 4.0), sharey=True)
  for axis, name, label in ((axes[0], "n", f"ln parameters {n_label}"),
                            (axes[1], "d", f"ln tokens {d_label}")):
    _panel(axis, diagnostics.log_inputs.get(name), diagnostics, diagnostics.trends.get(name),
           label)
  _panel(axes[2], diagnostics.log_prediction, diagnostics, diagnostics.trends["prediction"],
         "ln predicted loss (nats/token)")
  figure.suptitle(f"Residuals of {diagnostics.form} (log-space R^2 = "
                  f"{diagnostics.r_squared:.4f})", fontsize=10)
  return figure


def residuals_by_budget(diagnostics: residuals_lib.Diagnostics) -> plt.Figure:
  """One strip per compute budget: the budget's residuals, spread by ln N within the strip.

  Within a strip, smaller models sit to the left (when N is among the inputs), so a misfit of
  the IsoFLOP curvature shows as a tilt or a bow; the bar is the budget's mean residual.
  """
  if not diagnostics.budgets:
    raise ValueError("diagnostics has no budgets; pass budgets= to residuals.diagnose")
  labels = list(diagnostics.budgets)
  figure, axis = plt.subplots(figsize=(max(6.4, 0.8 * len(labels) + 2), 4.0))
  axis.axhline(0.0, color="k", lw=0.8)
  for position, label in enumerate(labels):
    values = diagnostics.budgets[label]
    log_n = diagnostics.budget_log_inputs[label].get("n")
    if log_n is not None and np.ptp(log_n) > 0:
      offsets = (log_n - log_n.min()) / np.ptp(log_n) - 0.5
    else:
      offsets = np.linspace(-0.5, 0.5, values.size) if values.size > 1 else np.zeros(1)
    axis.scatter(position + 2 * _STRIP_HALF_WIDTH * offsets, values, s=12,
                 color=f"C{position % 10}")
    axis.hlines(np.mean(values), position - _STRIP_HALF_WIDTH, position + _STRIP_HALF_WIDTH,
                color="k", lw=1.2)
  axis.set_xticks(range(len(labels)), labels, rotation=45 if len(labels) > 8 else 0)
  axis.set(xlabel="compute budget (FLOPs, or its label)", ylabel="r = ln(predicted) - ln(observed)",
           title=f"Residuals of {diagnostics.form} by budget (bar: mean; left to right: ln N)")
  return figure
