"""The fit report: DIR/fits.json, PNG figures and DIR/report.md for one set of observations.

`build` is the library entry point used by the CLI (`python -m analysis fit`) and the sweep
launcher. Numbers: parameters (count), tokens, FLOPs, loss in nats/token; every section names the
N and C conventions it was computed under. The report's sections are `SECTIONS`, in its order.
"""
import pathlib

from absl import logging

from analysis.laws import published
from analysis.report import auxiliary
from analysis.report import figures
from analysis.report import html
from analysis.report import learning_rate
from analysis.report import markdown
from analysis.report import pipeline
from analysis.report import report_checks
from analysis.table import observations as observations_lib
from export import compression_report
from records import atomic

# Everything `build` writes into its folder.
OUTPUTS = ("fits.json", "report.md", html.FILE, *(f"{name}.png" for name in figures.NAMES),
           compression_report.FIGURE, *learning_rate.FIGURES)


def build(observations: observations_lib.Observations, out_dir: str | pathlib.Path,
          **options) -> dict:
  """Runs the whole analysis and writes fits.json, the figures and report.md into `out_dir`.

  `options` are those of `pipeline.analyse` (conventions, n_resamples, level, holdout_flops,
  nominal_budgets, tolerance_decades, parabola_window, table_flops, seed). Returns the fits.json
  content: the analysis's summary with the figures drawn (`figures`, name -> file name), the
  warnings of the figures and the compression section after the analysis's own, and, when the
  sweep searched its learning rate, the learning-rate section's block (`learning_rate`,
  `analysis.report.learning_rate`). The previous analysis's
  outputs (`OUTPUTS`) are removed first, so an analysis that fails leaves none that look current;
  fits.json and report.md are written last, atomically. A figure that cannot be drawn is left
  out with a warning.
  """
  out_dir = pathlib.Path(out_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  remove_outputs(out_dir)
  analysis = pipeline.analyse(observations, **options)
  warnings = list(analysis.summary["warnings"])
  drawn = figures.draw(analysis, out_dir, warnings)
  compression_section, _ = auxiliary.attempt(
      "compression section", warnings,
      lambda: compression_report.section(observations.source, out_dir))
  learning_rate_section, _ = auxiliary.attempt(
      "learning-rate section", warnings,
      lambda: learning_rate.section(observations.source, out_dir))
  lines, block = learning_rate_section or ([], None)
  summary = dict(analysis.summary, warnings=warnings,
                 figures={name: path.name for name, path in drawn.items()},
                 **({"learning_rate": block} if block is not None else {}))
  text = _markdown(summary) + "\n".join([*lines, *(compression_section or [])])
  atomic.write_json_atomic(out_dir / "fits.json", summary)
  atomic.write_text_atomic(out_dir / "report.md", text)
  auxiliary.attempt("report.html", summary["warnings"],
                    lambda: html.write(text, analysis, summary, out_dir))
  return summary


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


def _markdown(summary: dict) -> str:
  """report.md less the compression section: the header, the warnings, every section of
  `SECTIONS` and the figures drawn, in `figures.NAMES` order."""
  conventions = summary["conventions"]
  label = markdown.convention_label(conventions)
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
  for section in SECTIONS:
    parts += ["", *section(summary)]
  parts += ["", "## Figures", ""]
  for name, title in figures.TITLES.items():
    if name in summary["figures"]:
      parts += [f"### {title}", "", f"![{title}]({summary['figures'][name]})", ""]
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
      f"Conventions: {markdown.convention_label(block['conventions'])}.", "",
      markdown.table(["param", "this fit", f"{block['level']:.0%} interval",
                      "Hoffmann 2022 (Eq. 10)", "Besiroglu 2024", "Besiroglu 95% interval"],
                     rows), "",
      f"Compute-optimal exponents: a = {markdown.number(block.get('a'))} "
      f"{markdown.interval(block['ci'].get('a'))}, b = {markdown.number(block.get('b'))} "
      f"{markdown.interval(block['ci'].get('b'))}.", *_known_floor_lines(block),
      *_over_forms_lines(summary.get("irreducible_loss", {}))])


def _known_floor_lines(block: dict) -> list[str]:
  """The corpus's known floor beside E, when the runs record one."""
  truth = block.get("known_floor")
  if truth is None:
    return []
  verdict = "covers" if truth["covered"] else "does **not** cover"
  return ["", f"**The truth beside the fit.** This corpus's validation floor is known exactly: "
          f"{markdown.number(truth['floor'], 4)} nats/token. E = {markdown.number(truth['E'], 4)} "
          f"misses it by {truth['miss']:+.3g} nats/token ({truth['relative_miss']:+.1%}); its "
          f"{truth['level']:.0%} interval {markdown.interval(truth['ci'])} {verdict} it."]


def _over_forms_lines(block: dict) -> list[str]:
  """E of each form the rollout compares and their average by held-out record, with the known
  floor beside it when the corpus has one."""
  if "forms" not in block:
    return []
  each = "; ".join(f"{entry['label']} {markdown.number(entry['E'], 4)} "
                   f"{markdown.interval(entry['ci'])}, weight {entry['weight']:.2f}"
                   for entry in block["forms"])
  lines = ["", f"**E over the forms.** One form's interval does not include the error of its "
           f"form. Fitted on every run by each form of the rollout: {each}. Weighted by their "
           f"held-out record, E = {markdown.number(block['E'], 4)}, {block['level']:.0%} "
           f"interval of the mixture {markdown.interval(block['ci'])}."]
  truth = block.get("known_floor")
  if truth is not None:
    verdict = "covers" if truth["covered"] else "does **not** cover"
    lines[-1] += (f" Against the known floor: {truth['miss']:+.3g} nats/token "
                  f"({truth['relative_miss']:+.2%}); the interval {verdict} it.")
  return lines


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
    rows.append([f"{law.label} [{law.source}]", markdown.number(law.a, 3),
                 markdown.interval(law.ci.get("a")), markdown.number(law.b, 3),
                 markdown.interval(law.ci.get("b"))])
  return ["## Compute-optimal exponents: N_opt ~ C^a, D_opt ~ C^b", "",
          f"Conventions: {markdown.convention_label(summary['conventions'])}. Published "
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
    rows.append([markdown.convention_label(row["conventions"])]
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
  held_out = summary.get("calibration", {}).get("held_out", {})
  calibrated = ([] if "coverage" not in held_out else [
      "", f"Calibrated by the rollout's record of the training runs alone "
      f"({held_out['description']}), the {held_out['level']:.0%} intervals cover "
      f"{100 * held_out['coverage']:.0f}% of the held-out runs, with a mean |relative error| of "
      f"{100 * held_out['mean_abs_relative_error']:.2f}% for the bias-corrected prediction."])
  return ["## Held-out extrapolation", "",
          f"Fitted L(N, D) on the {block['n_train']} runs with C < "
          f"{markdown.number(block['threshold_flops'] / block['gap'], 3)} FLOPs; predicted "
          f"the {block['n_heldout']} with C >= {markdown.number(block['threshold_flops'], 3)}, "
          f"{block['compute_ratio']:.3g}x the largest training compute or more. Mean |relative "
          f"error| "
          f"{100 * block['mean_abs_relative_error']:.2f}%, "
          f"{block['level']:.0%} prediction intervals cover "
          f"{100 * block['prediction_interval_coverage']:.0f}% of held-out runs (parameter-only "
          f"intervals: {100 * block['parameter_interval_coverage']:.0f}%). Conventions: "
          f"{markdown.convention_label(block['conventions'])}.", *calibrated, "",
          markdown.table(["run", "actual", "predicted", "rel. error", "prediction interval",
                  "covered"], rows)]


# The report's sections, in its order: each takes the summary and returns markdown lines.
SECTIONS = (report_checks.settings_section, _approach3_section, _approaches_section,
            _single_variable_section, _kaplan_section, _allocation_section,
            report_checks.compute_optimal_section, _conventions_section,
            report_checks.diagnostics_section, _extrapolation_section,
            report_checks.rollout_section, report_checks.calibration_section)
