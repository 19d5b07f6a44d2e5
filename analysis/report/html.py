"""report.html: the report as one self-contained interactive page, beside report.md.

The page is report.md rendered (every section and figure, in the same order). The figures of runs
are plotly charts (plotly.js is embedded in the page, so it opens without a network): hovering over
a run names it with its N (parameters, under the report's N convention), D (tokens), C (FLOPs) and
final loss (nats/token). They are loss against compute with the runs' lower envelope, the fitted
L(N, D) against the runs (predicted against actual), the residuals against compute, and the held-out
extrapolation. Every other figure is the report's PNG, embedded in the page as data. `plotly` and
`markdown` are imported only here. Written atomically after report.md; a failure is a warning of the
report (`document.build`), never its end.
"""
import base64
import pathlib
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from analysis.approaches import envelope
from analysis.report import markdown as markdown_lib
from analysis.report import pipeline
from analysis.trust import intervals
from records import atomic

FILE = "report.html"
_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+\.png)\)")  # a figure of report.md
_PLACEHOLDER = "@@"
_STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 6px}
blockquote{border-left:4px solid #d80;background:#fff7e6;margin:1em 0;padding:.2em 1em}
img{max-width:100%}"""


def _runs_trace(go: Any, x: np.ndarray, y: np.ndarray, run_ids: Sequence[str],
                runs: dict[str, np.ndarray], name: str) -> Any:
  """A scatter of the runs at (x, y) whose hover names each run with its N, D, C and loss."""
  custom = np.stack([runs["n"], runs["d"], runs["c"], runs["loss"]], axis=-1)
  return go.Scatter(
      x=x, y=y, mode="markers", name=name, marker=dict(size=8), text=list(run_ids),
      customdata=custom,
      hovertemplate="<b>%{text}</b><br>N = %{customdata[0]:.4g} parameters<br>"
                    "D = %{customdata[1]:.4g} tokens<br>C = %{customdata[2]:.3g} FLOPs<br>"
                    "loss = %{customdata[3]:.4f} nats/token<extra></extra>")


def loss_vs_compute(go: Any, analysis: pipeline.Analysis, c_label: str) -> Any:
  """Final loss of every run against C, and the lower envelope of the runs."""
  runs = analysis.runs
  frontier = envelope.lower_envelope(runs["c"], runs["loss"])
  order = np.lexsort((-runs["loss"][frontier], runs["c"][frontier]))
  figure = go.Figure([
      _runs_trace(go, runs["c"], runs["loss"], analysis.run_ids, runs, "runs"),
      go.Scatter(x=runs["c"][frontier][order], y=runs["loss"][frontier][order], mode="lines",
                 name="lower envelope", hoverinfo="skip")])
  figure.update_xaxes(type="log", title=f"training compute {c_label} (FLOPs)")
  figure.update_yaxes(type="log", title="final loss (nats/token)")
  return figure


def law_fit(go: Any, analysis: pipeline.Analysis) -> Any:
  """Approach 3's predicted loss against each run's actual loss, with the diagonal."""
  runs = analysis.runs
  predicted = intervals.predict(analysis.approach3.form, analysis.approach3.params,
                                dict(n=runs["n"], d=runs["d"]))
  limits = [float(min(runs["loss"].min(), predicted.min())),
            float(max(runs["loss"].max(), predicted.max()))]
  figure = go.Figure([
      _runs_trace(go, runs["loss"], predicted, analysis.run_ids, runs, "runs"),
      go.Scatter(x=limits, y=limits, mode="lines", name="predicted = actual",
                 hoverinfo="skip")])
  figure.update_xaxes(title="actual loss (nats/token)")
  figure.update_yaxes(title="L(N, D) predicted loss (nats/token)")
  return figure


def residuals(go: Any, analysis: pipeline.Analysis, c_label: str) -> Any:
  """r = ln(predicted) - ln(actual) of every run against C (r > 0: the law over-predicts)."""
  runs = analysis.runs
  predicted = intervals.predict(analysis.approach3.form, analysis.approach3.params,
                                dict(n=runs["n"], d=runs["d"]))
  figure = go.Figure([_runs_trace(go, runs["c"], np.log(predicted) - np.log(runs["loss"]),
                                  analysis.run_ids, runs, "runs")])
  figure.add_hline(y=0.0, line_width=1)
  figure.update_xaxes(type="log", title=f"training compute {c_label} (FLOPs)")
  figure.update_yaxes(title="r = ln(predicted) - ln(actual)")
  return figure


def extrapolation(go: Any, analysis: pipeline.Analysis) -> Any:
  """Held-out runs: predicted loss with its bootstrap interval against the actual loss, and
  beside it, where the summary has them, the prediction and interval calibrated by the record
  of the training runs (`calibration.held_out`)."""
  block = analysis.summary["extrapolation"]
  held_out = block["runs"]
  actual = np.array([run["actual"] for run in held_out])
  predicted = np.array([run["predicted"] for run in held_out])
  low = np.array([run["prediction_low"] for run in held_out])
  high = np.array([run["prediction_high"] for run in held_out])
  by_id = {run_id: index for index, run_id in enumerate(analysis.run_ids)}
  rows = [by_id.get(run["run_id"]) for run in held_out]
  runs = {key: np.array([np.nan if row is None else values[row] for row in rows])
          for key, values in analysis.runs.items()}
  runs["loss"] = actual
  trace = _runs_trace(go, actual, predicted, [run["run_id"] for run in held_out], runs,
                      f"held out, bootstrap ({block['level']:.0%} interval)")
  trace.error_y = dict(type="data", symmetric=False, array=high - predicted,
                       arrayminus=predicted - low)
  traces = [trace]
  limits = [float(min(actual.min(), low.min())), float(max(actual.max(), high.max()))]
  calibrated = analysis.summary.get("calibration", {}).get("held_out", {}).get("runs")
  if calibrated:
    actual_of = {run["run_id"]: run["actual"] for run in held_out}
    point = np.array([run["predicted"] for run in calibrated])
    band_low = np.array([run["low"] for run in calibrated])
    band_high = np.array([run["high"] for run in calibrated])
    traces.append(go.Scatter(
        x=[actual_of[run["run_id"]] for run in calibrated], y=point, mode="markers",
        marker=dict(symbol="square", size=6), text=[run["run_id"] for run in calibrated],
        name=f"calibrated by the record ({block['level']:.0%} interval)",
        error_y=dict(type="data", symmetric=False, array=band_high - point,
                     arrayminus=point - band_low),
        hovertemplate="%{text}<br>actual %{x:.4g}, calibrated %{y:.4g} nats/token"
                      "<extra></extra>"))
    limits = [min(limits[0], float(band_low.min())), max(limits[1], float(band_high.max()))]
  figure = go.Figure([*traces, go.Scatter(x=limits, y=limits, mode="lines", hoverinfo="skip",
                                          name="predicted = actual")])
  figure.update_xaxes(title="actual loss (nats/token)")
  figure.update_yaxes(title="predicted loss (nats/token)")
  return figure


def interactive(analysis: pipeline.Analysis) -> dict[str, Callable[[Any], Any]]:
  """name -> a call that draws that figure with plotly (`go` = plotly.graph_objects), for the
  figures of runs that this analysis has."""
  c_label = markdown_lib.convention_label(analysis.conventions).split(", ")[1]
  drawn = dict(loss_vs_compute=lambda go: loss_vs_compute(go, analysis, c_label),
               law_fit=lambda go: law_fit(go, analysis),
               residuals=lambda go: residuals(go, analysis, c_label))
  if "runs" in analysis.summary.get("extrapolation", {}):
    drawn["extrapolation"] = lambda go: extrapolation(go, analysis)
  return drawn


def page(report_markdown: str, analysis: pipeline.Analysis, summary: dict,
         out_dir: pathlib.Path) -> str:
  """The page's HTML: report.md rendered in order, each figure of `interactive` as a plotly
  chart in place of its PNG, every other image (a PNG in `out_dir`) embedded as data."""
  import markdown  # pylint: disable=import-outside-toplevel
  import plotly.graph_objects as go  # pylint: disable=import-outside-toplevel
  charts = {summary["figures"][name]: (name, draw) for name, draw in interactive(analysis).items()
            if name in summary["figures"]}
  rendered: dict[str, str] = {}

  def replace(match: re.Match) -> str:
    title, file_name = match.group(1), match.group(2)
    if file_name in charts and charts[file_name][0] not in rendered:
      name, draw = charts[file_name]
      chart = draw(go)
      chart.update_layout(height=480, hovermode="closest", margin=dict(t=30))
      rendered[name] = chart.to_html(full_html=False, include_plotlyjs=not rendered,
                                     div_id=f"figure-{name}")
      return f"{_PLACEHOLDER}{name}{_PLACEHOLDER}"
    data = base64.b64encode((out_dir / file_name).read_bytes()).decode("ascii")
    return f"![{title}](data:image/png;base64,{data})"

  body = markdown.markdown(_IMAGE.sub(replace, report_markdown), extensions=["tables"])
  for name, chart in rendered.items():
    body = body.replace(f"<p>{_PLACEHOLDER}{name}{_PLACEHOLDER}</p>", chart)
  return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Scaling-law fit report'
          f'</title><style>{_STYLE}</style></head><body>\n{body}\n</body></html>\n')


def write(report_markdown: str, analysis: pipeline.Analysis, summary: dict,
          out_dir: str | pathlib.Path) -> pathlib.Path:
  """Writes `out_dir/report.html` (see `page`); returns its path."""
  path = pathlib.Path(out_dir) / FILE
  atomic.write_text_atomic(path, page(report_markdown, analysis, summary, pathlib.Path(out_dir)))
  return path
