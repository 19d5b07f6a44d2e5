"""The fit report: DIR/fits.json, PNG figures and DIR/report.md for one set of observations.

`build` is the library entry point used by the CLI (`python -m analysis fit`) and the sweep
launcher. Numbers: parameters (count), tokens, FLOPs, loss in nats/token; every section names the
N and C conventions it was computed under.
"""
from collections.abc import Callable
import math
import pathlib

from absl import logging
import numpy as np

from analysis.report import auxiliary
from analysis.approaches import envelope
from analysis.report import diagnostic_plots
from analysis.trust import extrapolate
from analysis.trust import intervals
from analysis.report import markdown
from analysis.table import observations as observations_lib
from analysis.report import pipeline
from analysis.report import plots
from analysis.laws import published
from analysis.report import report_checks
from analysis.report import rollout_plots
from export import compression_report
from records import atomic

FIGURES = ("loss_vs_compute", "isoflop_profiles", "law_fit", "optimal_size", "residuals",
           "residual_panels", "residuals_by_budget", "extrapolation", "rollout_errors",
           "rollout_final_split")
# Everything `build` writes into its folder.
OUTPUTS = ("fits.json", "report.md", *(f"{name}.png" for name in FIGURES),
           compression_report.FIGURE)


def build(observations: observations_lib.Observations, out_dir: str | pathlib.Path,
          **options) -> dict:
  """Runs the whole analysis and writes fits.json, the figures and report.md into `out_dir`.

  `options` are those of `pipeline.analyse` (conventions, n_resamples, level, holdout_flops,
  nominal_budgets, tolerance_decades, table_flops, seed). Returns the fits.json content.
  The previous analysis's outputs (`OUTPUTS`) are removed first, so an analysis that fails
  leaves none that look current; fits.json and report.md are written last, atomically. A figure
  that cannot be drawn is left out with a warning.
  """
  out_dir = pathlib.Path(out_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  remove_outputs(out_dir)
  analysis = pipeline.analyse(observations, **options)
  warnings = analysis.summary["warnings"]
  analysis.summary["figures"] = {name: str(path.name)
                                 for name, path in _figures(analysis, out_dir).items()}
  compression_section, _ = auxiliary.attempt(
      "compression section", warnings,
      lambda: compression_report.section(observations.source, out_dir))
  text = _markdown(analysis.summary) + "\n".join(compression_section or [])
  atomic.write_json_atomic(out_dir / "fits.json", _jsonable(analysis.summary))
  atomic.write_text_atomic(out_dir / "report.md", text)
  return analysis.summary


def remove_outputs(out_dir: str | pathlib.Path) -> list[str]:
  """Deletes the files of an earlier `build` in `out_dir` (`OUTPUTS`, nothing else); returns the
  names it removed."""
  out_dir = pathlib.Path(out_dir)
  removed = [name for name in OUTPUTS if (out_dir / name).is_file()]
  for name in removed:
    (out_dir / name).unlink()
  if removed:
    logging.info("removed the earlier analysis's %s from %s", ", ".join(removed), out_dir)
  return removed


def _figures(analysis: pipeline.Analysis, out_dir: pathlib.Path) -> dict[str, pathlib.Path]:
  """Draws every figure the analysis has data for; one that fails is left out with a warning."""
  drawn = {}
  for name, draw in _figure_makers(analysis, out_dir).items():
    path, _ = auxiliary.attempt(f"figure {name}", analysis.summary["warnings"], draw)
    if path is not None:
      drawn[name] = path
  return drawn


def _figure_makers(analysis: pipeline.Analysis, out_dir: pathlib.Path
                   ) -> dict[str, Callable[[], pathlib.Path]]:
  """name -> a call that draws the figure into `out_dir`, for each figure with data."""
  runs = analysis.runs
  n_label, c_label = pipeline.convention_label(analysis.conventions).split(", ")
  boot = analysis.approach3_bootstrap

  def predict(n, d):
    return extrapolate.predict(analysis.approach3.form, analysis.approach3.params,
                               dict(n=n, d=d))

  def band(n, d):
    interval = intervals.prediction_interval(boot, dict(n=n, d=d), noise=analysis.noise)
    return interval.low, interval.high

  figures = dict(
      loss_vs_compute=lambda: _loss_vs_compute_figure(analysis, out_dir, c_label),
      law_fit=lambda: plots.law_fit(out_dir / "law_fit.png", runs["n"], runs["d"], runs["c"],
                                    runs["loss"], predict, band=band, n_label=n_label),
      optimal_size=lambda: _optimal_size_figure(analysis, out_dir),
      residuals=lambda: plots.residuals(out_dir / "residuals.png", runs["c"], runs["loss"],
                                        predict(runs["n"], runs["d"]), c_label=c_label))
  if analysis.approach2 is not None:
    figures["isoflop_profiles"] = lambda: plots.isoflop_profiles(
        out_dir / "isoflop_profiles.png", analysis.approach2, n_label=n_label)
  diagnostics = analysis.diagnostics
  if diagnostics is not None:
    figures["residual_panels"] = lambda: diagnostic_plots.residual_panels(
        out_dir / "residual_panels.png", diagnostics, n_label=n_label, d_label="tokens D")
  if diagnostics is not None and diagnostics.budgets:
    figures["residuals_by_budget"] = lambda: diagnostic_plots.residuals_by_budget(
        out_dir / "residuals_by_budget.png", diagnostics)
  result = analysis.extrapolation
  if result is not None:
    figures["extrapolation"] = lambda: plots.extrapolation(
        out_dir / "extrapolation.png", result.actual, result.predicted,
        result.prediction_interval, level=result.level)
  if analysis.rollout is not None:
    figures["rollout_errors"] = lambda: rollout_plots.error_vs_distance(
        analysis.rollout, out_dir / "rollout_errors.png")
    figures["rollout_final_split"] = lambda: rollout_plots.final_split(
        analysis.rollout, out_dir / "rollout_final_split.png")
  return figures


def _loss_vs_compute_figure(analysis: pipeline.Analysis, out_dir: pathlib.Path,
                            c_label: str) -> pathlib.Path:
  """Loss against C with the frontier, Approach 1's envelope and Approach 3's optimal loss up
  to the largest table budget."""
  runs, form, params = analysis.runs, analysis.approach3.form, analysis.approach3.params
  frontier_fit = analysis.single_variable.get("c")
  frontier_law = None
  if frontier_fit is not None:
    def frontier_law(flops):
      return extrapolate.predict(frontier_fit.form, frontier_fit.params, dict(c=flops))
  envelope_curve = None
  if analysis.approach1 is not None:
    envelope_curve = (analysis.approach1.flops, analysis.approach1.envelope_loss)
  top = max(row["flops"] for row in analysis.summary["optimal_allocation"]["rows"])
  grid = np.geomspace(runs["c"].min(), max(top, runs["c"].max()), 60)
  optimal_band = intervals.compute_optimal_interval(analysis.approach3_bootstrap, grid,
                                                    noise=analysis.noise)
  return plots.loss_vs_compute(
      out_dir / "loss_vs_compute.png", runs["c"], runs["loss"],
      envelope.lower_envelope(runs["c"], runs["loss"]), frontier_law=frontier_law,
      envelope=envelope_curve, c_label=c_label,
      optimal=(grid, intervals.optimal_point(form, params, grid)[2], optimal_band.low,
               optimal_band.high))


def _optimal_size_figure(analysis: pipeline.Analysis, out_dir: pathlib.Path) -> pathlib.Path:
  """N_opt(C) curves from the smallest observed budget to the largest table budget."""
  runs = analysis.runs
  top = max(row["flops"] for row in analysis.summary["optimal_allocation"]["rows"])
  curves = analysis.allocations_at(np.geomspace(runs["c"].min(), top, 60))
  points = None
  if analysis.approach2 is not None:
    points = (np.array([b.flops for b in analysis.approach2.budgets]),
              np.array([b.n_opt for b in analysis.approach2.budgets]))
  return plots.optimal_size(out_dir / "optimal_size.png", curves, points=points,
                            observed_range=(float(runs["c"].min()), float(runs["c"].max())))


def _jsonable(value):
  """Plain JSON types; non-finite floats become null (fits.json stays strict JSON)."""
  if isinstance(value, dict):
    return {str(k): _jsonable(v) for k, v in value.items()}
  if isinstance(value, (list, tuple, np.ndarray)):
    return [_jsonable(v) for v in value]
  if isinstance(value, (bool, np.bool_)):
    return bool(value)
  if isinstance(value, (int, np.integer)):
    return int(value)
  if isinstance(value, (float, np.floating)):
    return float(value) if math.isfinite(value) else None
  return value


def _markdown(summary: dict) -> str:
  conventions = summary["conventions"]
  label = pipeline.convention_label(conventions)
  parts = [
      "# Scaling-law fit report", "",
      f"Data: `{summary['data']['source']}`: {summary['data']['n_used']} of "
      f"{summary['data']['n_runs']} runs used. Conventions: **{label}**. Loss in nats/token, "
      "N in parameters, D in tokens, C in FLOPs.", ""]
  if summary["data"]["one_parameter_count"]:
    parts += ["The data give one parameter count per run, so both N conventions use it as "
              "given (the source's own convention).", ""]
  parts += ["## Warnings", ""]
  parts += [f"- {w}" for w in summary["warnings"]] or ["- none"]
  parts += ["", *report_checks.settings_section(summary), "", *_approach3_section(summary), "",
            *_approaches_section(summary), "", *_single_variable_section(summary), "",
            *_kaplan_section(summary), "", *_allocation_section(summary), "",
            *report_checks.compute_optimal_section(summary), "",
            *_conventions_section(summary), "", *report_checks.diagnostics_section(summary), "",
            *_extrapolation_section(summary), "", *report_checks.rollout_section(summary), "",
            "## Figures", ""]
  titles = dict(loss_vs_compute="Loss against compute with the frontier",
                isoflop_profiles="IsoFLOP profiles with their parabolas",
                law_fit="Fitted L(N, D) against the runs, with prediction bands",
                optimal_size="N_opt(C) against the published laws",
                residuals="Residuals of the L(N, D) fit against compute",
                residual_panels="Residuals against ln N, ln D and the prediction",
                residuals_by_budget="Residuals per IsoFLOP budget",
                extrapolation="Predicted against actual for held-out runs",
                rollout_errors="Rollout: held-out error against extrapolation distance",
                rollout_final_split="Rollout: the largest threshold's predictions")
  for name in FIGURES:
    if name in summary["figures"]:
      parts += [f"### {titles[name]}", "", f"![{titles[name]}]({summary['figures'][name]})", ""]
  return "\n".join(parts) + "\n"


def _approach3_section(summary: dict) -> list[str]:
  block = summary["approach3"]
  epoch = published.LAWS["besiroglu2024"]
  hoffmann = published.LAWS["hoffmann2022_approach3_rounded"]
  rows = [[name, markdown.number(block["params"][name]), markdown.interval(block["ci"].get(name)),
           markdown.number(hoffmann.params[name]), markdown.number(epoch.params[name]),
           markdown.interval(epoch.ci.get(name))] for name in ("E", "A", "B", "alpha", "beta")]
  status = "converged" if block.get("converged") else "NOT converged"
  return ["## Approach 3: L(N, D) = E + A/N^alpha + B/D^beta", ""] + markdown.unless_identifiable(
      block, [
      f"Law `{block['form']}`; {block['criterion']['description']}, "
      f"multi-start search from {block['n_starts']} starts: objective "
      f"{markdown.number(block['objective'], 6)}, {status}. Intervals: {block['level']:.0%} "
      f"bootstrap over runs ({block['n_resamples']} resamples, {block['n_failed']} failed). "
      f"Conventions: {pipeline.convention_label(block['conventions'])}.", "",
      markdown.table(["param", "this fit", f"{block['level']:.0%} interval", "Hoffmann 2022 (Eq. 10)",
              "Besiroglu 2024", "Besiroglu 95% interval"], rows), "",
      f"Compute-optimal exponents: a = {markdown.number(block.get('a'))} "
      f"{markdown.interval(block['ci'].get('a'))}, b = {markdown.number(block.get('b'))} "
      f"{markdown.interval(block['ci'].get('b'))}."])


def _approaches_section(summary: dict) -> list[str]:
  rows = []
  for name, key in (("Approach 1 (envelope)", "approach1"), ("Approach 2 (IsoFLOP)",
                                                             "approach2")):
    block = summary[key]
    if "skipped" in block:
      rows.append([name, "skipped: " + block["skipped"], "", "", ""])
    else:
      rows.append([name, markdown.number(block["a"], 3), markdown.interval(block["ci"]["a"]),
                   markdown.number(block["b"], 3), markdown.interval(block["ci"]["b"])])
  block = summary["approach3"]
  rows.append(["Approach 3 (this fit)", markdown.number(block.get("a"), 3),
               markdown.interval(block["ci"].get("a")), markdown.number(block.get("b"), 3),
               markdown.interval(block["ci"].get("b"))])
  for law in published.LAWS.values():
    if law.key.startswith("kaplan2020") and law.key != "kaplan2020_compute":
      continue
    rows.append([f"{law.label} [{law.source}]", markdown.number(law.a, 3), markdown.interval(law.ci.get("a")),
                 markdown.number(law.b, 3), markdown.interval(law.ci.get("b"))])
  return ["## Compute-optimal exponents: N_opt ~ C^a, D_opt ~ C^b", "",
          f"Conventions: {pipeline.convention_label(summary['conventions'])}. Published "
          "intervals are at the level each paper states.", "",
          markdown.table(["source", "a", "interval", "b", "interval"], rows)]


def _single_variable_section(summary: dict) -> list[str]:
  if not summary["single_variable"]:
    return []
  rows, reasons = [], []
  for variable, block in summary["single_variable"].items():
    if "skipped" in block:
      rows.append([f"L({variable})", "skipped: " + block["skipped"], "", "", "", ""])
      continue
    params = block["params"]
    rows.append([f"L({variable}) = E + A {variable}^-alpha"] + [
        f"{markdown.number(params[k])} {markdown.interval(block['ci'].get(k))}"
        for k in ("E", "A", "alpha")] + ["yes" if block.get("converged") else "NO",
                                         "yes" if block["identifiable"] else "NO"])
    reasons += [f"L({variable}): {line}" for line in block["identifiability"]["warnings"]]
  body = [markdown.table(["law", "E", "A", "alpha", "converged", "identifiable"], rows)]
  if reasons:
    body = markdown.warning_box("some single-variable laws are not identifiable: their "
                                "parameters below are not measurements.", reasons, body)
  return ["## Single-variable laws (fitted on the lower envelope of final losses)", "", *body]


def _kaplan_section(summary: dict) -> list[str]:
  if "kaplan_nd" not in summary:
    return []
  block = summary["kaplan_nd"]
  title = "## Kaplan et al. 2020 form: L(N, D) = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D"
  if "skipped" in block:
    return [title, "", "Skipped: " + block["skipped"]]
  law = published.LAWS["kaplan2020_nd"]
  rows = [[name, markdown.number(block["params"][name]), markdown.interval(block["ci"].get(name)),
           markdown.number(law.params[name])] for name in ("N_c", "D_c", "alpha_N", "alpha_D")]
  return [title, ""] + markdown.unless_identifiable(block, [
      f"Fitted to the same runs ({'converged' if block['converged'] else 'NOT converged'}, "
      f"objective {markdown.number(block['objective'], 6)}). Kaplan et al. fitted WebText2 "
      "losses with non-embedding N: compare exponents, not constants.", "",
      markdown.table(["param", "this fit", f"{block['level']:.0%} interval",
                      f"{law.label} [{law.source}]"], rows)])


def _allocation_section(summary: dict) -> list[str]:
  """The allocation table; rows of a fit that is not identifiable, or whose interval leaves
  out its own estimate, go into a warning box that says why."""
  block = summary["optimal_allocation"]
  header = ["source", "C (FLOPs)", "N_opt", "interval", "D_opt (tokens)", "interval", "D/N",
            "interval", "conventions"]
  clean, flagged, reasons = [], [], []
  for row in block["rows"]:
    row_reasons = _allocation_reasons(row)
    (flagged if row_reasons else clean).append(_allocation_row(row))
    reasons += [reason for reason in row_reasons if reason not in reasons]
  body = [markdown.table(header, clean)] if clean else []
  if flagged:
    body += ["", *markdown.warning_box(
        "these allocations are not measurements.", reasons, [markdown.table(header, flagged)])]
  return ["## Compute-optimal allocation", "",
          f"Closed forms assume {block['closed_form_assumes']}; published laws are in their "
          "own conventions (last column).", "", *body]


def _allocation_reasons(row: dict) -> list[str]:
  """Why an allocation row is not a clean result; empty when it is."""
  reasons = []
  if not row.get("identifiable", True):
    reasons.append(f"{row['source']}: its fit is not identifiable (see its section), so its "
                   "N_opt and D_opt are not measurements")
  for name, covered in (("N_opt", row.get("n_covered", True)),
                        ("D_opt", row.get("d_covered", True))):
    if not covered:
      reasons.append(f"{row['source']} at C = {markdown.number(row['flops'], 3)}: {name} lies "
                     f"outside its own {row['level']:.0%} bootstrap interval (the refits on "
                     "resampled runs settled elsewhere than the fit on all runs): the interval "
                     "is no uncertainty around the estimate")
  return reasons


def _allocation_row(row: dict) -> list[str]:
  def interval(low: str, high: str, covered: str) -> str:
    text = markdown.interval((row[low], row[high]))
    return text if row.get(covered, True) else f"{text} excludes the estimate"

  return [row["source"], markdown.number(row["flops"], 3), markdown.number(row["n_opt"], 3),
          interval("n_low", "n_high", "n_covered"), markdown.number(row["d_opt"], 3),
          interval("d_low", "d_high", "d_covered"),
          markdown.number(row["tokens_per_parameter"], 3),
          markdown.interval((row["tokens_per_parameter_low"],
                             row["tokens_per_parameter_high"])), row["convention"]]


def _conventions_section(summary: dict) -> list[str]:
  rows = []
  for row in summary["convention_comparison"]:
    params = row["approach3"]["params"]
    approach2 = row["approach2"]
    rows.append([pipeline.convention_label(row["conventions"])]
                + [markdown.number(params[k]) for k in ("E", "A", "B", "alpha", "beta")]
                + [markdown.number(row["approach3"]["a"], 3),
                   markdown.number(approach2.get("a"), 3) if "a" in approach2 else "skipped"])
  if not rows:
    return []
  return ["## The same runs under each convention (point estimates)", "",
          "L(N, D) depends on the N convention only; Approach 2 groups and allocates by C.", "",
          markdown.table(["conventions", "E", "A", "B", "alpha", "beta", "a (Approach 3)",
                  "a (Approach 2)"], rows)]


def _extrapolation_section(summary: dict) -> list[str]:
  block = summary["extrapolation"]
  if "skipped" in block:
    return ["## Held-out extrapolation", "", "Skipped: " + block["skipped"]]
  rows = [[run["run_id"], markdown.number(run["actual"]), markdown.number(run["predicted"]),
           f"{100 * run['relative_error']:+.2f}%",
           markdown.interval((run["prediction_low"], run["prediction_high"])),
           "yes" if run["covered"] else "no"] for run in block["runs"]]
  return ["## Held-out extrapolation", "",
          f"Fitted L(N, D) on the {block['n_train']} runs with C < "
          f"{markdown.number(block['threshold_flops'], 3)} FLOPs; predicted the {block['n_heldout']} "
          f"above. Mean |relative error| {100 * block['mean_abs_relative_error']:.2f}%, "
          f"{block['level']:.0%} prediction intervals cover "
          f"{100 * block['prediction_interval_coverage']:.0f}% of held-out runs (parameter-only "
          f"intervals: {100 * block['parameter_interval_coverage']:.0f}%). Conventions: "
          f"{pipeline.convention_label(block['conventions'])}.", "",
          markdown.table(["run", "actual", "predicted", "rel. error", "prediction interval",
                  "covered"], rows)]
