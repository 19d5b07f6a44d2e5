"""Figures of a rollout (`analysis.trust.rollout.RolloutResult`), matplotlib with the Agg backend.

Each function returns the figure it drew (`plots.save` writes it):

  * `error_vs_distance`: |relative error| of every held-out prediction against its distance of
    extrapolation (decades of compute beyond the largest training run), one colour per
    form x objective, filled markers where the prediction interval covers the actual loss and
    open markers where it does not;
  * `final_split`: predicted against actual loss (nats/token) for the largest threshold, with
    the prediction intervals as bars.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from analysis.trust import rollout as rollout_lib  # noqa: E402


def _rows(result: rollout_lib.RolloutResult, label: str, threshold: float | None = None):
  rows = [r for r in result.rows if r["label"] == label
          and (threshold is None or r["threshold"] == threshold)]
  return {key: np.array([r[key] for r in rows]) for key in (
      "distance", "relative_error", "covered", "actual", "predicted", "low", "high")}


def error_vs_distance(result: rollout_lib.RolloutResult) -> plt.Figure:
  """|relative error| (%) against log10(C / largest training C), per form x objective."""
  figure, axis = plt.subplots(figsize=(6.4, 4.4))
  for i, label in enumerate(result.labels()):
    rows = _rows(result, label)
    errors = 100 * np.abs(rows["relative_error"])
    covered = rows["covered"].astype(bool)
    color = f"C{i % 10}"
    if covered.any():
      axis.scatter(rows["distance"][covered], errors[covered], color=color, s=22,
                   label=f"{label} (covered)")
    if not covered.all():
      axis.scatter(rows["distance"][~covered], errors[~covered], facecolors="none",
                   edgecolors=color, s=22, label=f"{label} (not covered)")
  axis.set_xlabel("extrapolation distance: log10(C / largest training C), C = 6ND FLOPs")
  axis.set_ylabel("|relative error| of held-out loss (%)")
  axis.set_title(f"rollout by {result.split_by}; intervals at {result.level:.0%}")
  axis.legend(fontsize=7)
  return figure


def final_split(result: rollout_lib.RolloutResult) -> plt.Figure:
  """Predicted against actual held-out loss (nats/token) at the largest threshold, with bars."""
  threshold = result.thresholds[-1]
  figure, axis = plt.subplots(figsize=(5.2, 5.0))
  everything = []
  for i, label in enumerate(result.labels()):
    rows = _rows(result, label, threshold)
    bars = np.stack([rows["predicted"] - rows["low"], rows["high"] - rows["predicted"]])
    axis.errorbar(rows["actual"], rows["predicted"], yerr=np.clip(bars, 0, None), fmt="o",
                  color=f"C{i % 10}", ms=4, capsize=3, label=label)
    everything.extend([rows["actual"], rows["low"], rows["high"]])
  values = np.concatenate(everything)
  values = values[np.isfinite(values)]
  if values.size:
    line = [values.min(), values.max()]
    axis.plot(line, line, color="0.5", lw=1, ls="--", label="predicted = actual")
  axis.set_xlabel("actual loss (nats/token)")
  axis.set_ylabel(f"predicted loss, {result.level:.0%} new-run interval")
  axis.set_title(f"held out: {result.split_by} >= {threshold:.3g}")
  axis.legend(fontsize=7)
  return figure
