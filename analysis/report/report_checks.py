"""Report sections that say how far a fit can be trusted: fit settings, residual diagnostics,
the compute-optimal loss with prediction intervals, and the rollout's held-out record.

Each function takes the fits.json summary (`analysis.report.pipeline.analyse`) and returns markdown
lines; losses in nats/token, N in parameters, D in tokens, C in FLOPs.
"""
from analysis.report import markdown

# Rows of the rollout's held-out table shown in the report (the JSON holds all of them).
MAX_ROLLOUT_ROWS = 40


def settings_section(summary: dict) -> list[str]:
  """How every law was fitted: form, objective, bounds, weights."""
  options = summary["fit_options"]
  objective = options["objective"]
  bounds = ("E at most the smallest observed loss and exponents in [0, 3]"
            if options["bounded"] else "none")
  seeds = summary["data"]["seeds_per_point"]
  seed_text = (f"up to {seeds['max']} seeds per point, pooled seed sd of log loss "
               f"{markdown.number(seeds['pooled_log_sd'], 3)}" if seeds["max"] > 1
               else "one seed per point")
  lines = ["## Fit settings", "",
           f"Approach-3 law `{options['law']}`; objective: {objective['description']}; "
           f"bounds: {bounds}; observation weights: {options['weighting']}; {seed_text}."]
  branching = summary["data"].get("branching")
  if branching:
    lines += ["", f"{branching['points']} points are cooldown branches of {branching['trunks']} "
              f"WSD trunks; the bootstrap resamples whole trunks. The sweep spent "
              f"{markdown.number(branching['flops_spent'], 4)} FLOPs on them, "
              f"{markdown.number(branching['ratio'], 2)}x the "
              f"{markdown.number(branching['flops_from_scratch'], 4)} of training each from "
              f"scratch."]
  curves = summary["data"].get("checkpoints")
  if curves:
    lines += ["", f"{curves['points']} points are checkpoints of {curves['curves']} training "
              "curves; the bootstrap resamples whole curves, and the rollout keeps each curve "
              "on one side of a threshold and predicts the curves' final points."]
  return lines


def diagnostics_section(summary: dict) -> list[str]:
  """Residual tests of the Approach-3 fit (r = ln predicted - ln actual)."""
  block = summary["residual_diagnostics"]
  if "skipped" in block:
    return ["## Residual diagnostics of the Approach-3 fit", "", "Skipped: " + block["skipped"]]
  rows = []
  for name, trend in block["trends"].items():
    if "skipped" in trend:
      rows.append([f"r against ln {name}", "skipped: " + trend["skipped"], ""])
    else:
      rows.append([f"r against ln {name}", f"slope {markdown.number(trend['slope'], 3)}",
                   markdown.number(trend["p_value"], 2)])
  normality = block["normality"]
  if "skipped" in normality:
    rows.append(["Shapiro-Wilk normality", "skipped: " + normality["skipped"], ""])
  else:
    rows.append(["Shapiro-Wilk normality", f"W = {markdown.number(normality['statistic'], 3)}",
                 markdown.number(normality["p_value"], 2)])
  findings = [f"- {line}" for line in block["warnings"]] or [
      f"- no test is significant at {block['significance']}"]
  return ["## Residual diagnostics of the Approach-3 fit", "",
          f"Residuals r = ln(predicted) - ln(actual); log-space R^2 = "
          f"{markdown.number(block['r_squared'], 5)}. Conventions: "
          f"{markdown.convention_label(block['conventions'])}.", "",
          markdown.table(["test", "statistic", "p-value"], rows), "", *findings]


def compute_optimal_section(summary: dict) -> list[str]:
  """The loss the Approach-3 law predicts at each budget's compute-optimal (N, D)."""
  block = summary["compute_optimal_loss"]
  if "skipped" in block:
    return ["## Predicted loss at the compute-optimal point", "", "Skipped: " + block["skipped"]]
  level = f"{block['level']:.0%}"
  rows = [[markdown.number(row["flops"], 3), markdown.number(row["n_opt"], 3),
           markdown.number(row["d_opt"], 3), markdown.number(row["loss"]),
           markdown.interval((row["mean_low"], row["mean_high"])),
           markdown.interval((row["run_low"], row["run_high"])),
           markdown.number(row["distance"], 2), markdown.number(row["calibrated_loss"]),
           markdown.interval((row["calibrated_low"], row["calibrated_high"]))]
          for row in block["rows"]]
  body = ["## Predicted loss at the compute-optimal point", "",
          f"L(N_opt, D_opt) of the `{block['form']}` fit at each budget, with C = 6ND; "
          f"{level} intervals from the bootstrap refits, each at its own optimum: for the "
          f"law's mean loss, and for one new run (adding {block['noise']}); beside them the "
          f"calibrated prediction and one-run interval (distance: decades of "
          f"{block['distance_in'].upper()} beyond the largest run; see the calibration "
          f"section). Conventions: {markdown.convention_label(block['conventions'])}.", "",
          markdown.table(["C (FLOPs)", "N_opt", "D_opt (tokens)", "loss",
                          f"{level} mean-loss interval", f"{level} one-run interval (bootstrap)",
                          "distance", "calibrated loss", f"{level} one-run interval (calibrated)"],
                         rows), "",
          f"**Headline interval: {block['headline']}**, because {block['headline_reason']}."]
  return markdown.unless_identifiable(summary["approach3"], body)


def rollout_section(summary: dict) -> list[str]:
  """The rollout: held-out error by distance per form x objective, the recommendation, and
  every held-out prediction with its interval."""
  block = summary["rollout"]
  title = "## Model selection on held-out runs (rollout)"
  if "skipped" in block:
    return [title, "", "Skipped: " + block["skipped"]]
  split = {"c": "compute C (FLOPs)", "n": "parameters N"}[block["split_by"]]
  level = f"{block['level']:.0%}"
  bins = list(block["table"][0]["by_distance"])
  rows = []
  for entry in block["table"]:
    rows.append([entry["label"], markdown.number(entry["mean_abs_log_error"], 3),
                 f"{100 * entry['mean_abs_relative_error']:.2f}%"]
                + [_bin_cell(entry["by_distance"][name]) for name in bins]
                + [f"{100 * entry['coverage']:.0f}%"])
  recommendation = block["recommendation"]
  predictions = _prediction_rows(block)
  shown = predictions[-MAX_ROLLOUT_ROWS:]
  labels = [entry["label"] for entry in block["table"]]
  return [
      title, "",
      f"At each threshold of {split} "
      f"({', '.join(markdown.number(t, 3) for t in block['thresholds'])})"
      f" every form x objective is fitted on the runs below it and predicts the runs at or "
      f"above it, with {level} one-run prediction intervals. Distance: decades of compute "
      "beyond the largest training run. Conventions: "
      f"{markdown.convention_label(block['conventions'])}.", "",
      markdown.table(["form/objective", "mean abs log error", "mean abs rel. error"]
                     + [f"rel. error at {name} decades" for name in bins]
                     + [f"{level} coverage"], rows), "",
      f"**Recommendation:** {recommendation['statement']}. "
      "The paired test reuses runs across thresholds, so its p-value is optimistic.", "",
      f"**Chosen out of sample** (at each threshold, the form with the best record below it, "
      f"or the forms averaged by held-out weight; the baseline where there is no record): "
      f"{block['selection']['statement']}.", "",
      f"Held-out predictions ({len(shown)} of {len(predictions)}, the largest thresholds last):",
      "", markdown.table(["threshold", "run", "N", "D", "actual"]
                         + [f"{label}: rel. error (covered)" for label in labels],
                         [row for _, row in shown])]


def _bin_cell(entry: dict) -> str:
  if not entry["n"]:
    return "-"
  return f"{100 * entry['mean_abs_relative_error']:.2f}% ({entry['n']})"


def _prediction_rows(block: dict) -> list[tuple[tuple, list[str]]]:
  """One row per (threshold, held-out run) with each label's error and coverage."""
  labels = [entry["label"] for entry in block["table"]]
  cells = {}
  for row in block["rows"]:
    key = (row["threshold"], row["run"])
    cells.setdefault(key, dict(row=row, by_label={}))["by_label"][row["label"]] = row
  rows = []
  for key in sorted(cells, key=lambda k: (k[0], cells[k]["row"]["c"])):
    first = cells[key]["row"]
    values = []
    for label in labels:
      row = cells[key]["by_label"].get(label)
      values.append("-" if row is None else
                    f"{100 * row['relative_error']:+.2f}% ({'yes' if row['covered'] else 'no'})")
    rows.append((key, [markdown.number(key[0], 3), str(key[1]), markdown.number(first["n"], 3),
                       markdown.number(first["d"], 3), markdown.number(first["actual"])]
                 + values))
  return rows


def calibration_section(summary: dict) -> list[str]:
  """How the Approach-3 law's held-out record widens and shifts its bootstrap intervals."""
  block = summary["calibration"]
  title = "## Intervals calibrated by the held-out record"
  if "skipped" in block:
    return [title, "", "Skipped: " + block["skipped"]]
  split = {"c": "C", "n": "N"}[block["split_by"]]
  checked = block["out_of_sample"]
  check = ("No threshold of the rollout had a record below it to check the calibration on."
           if not checked["n"] else
           f"Out of sample on the rollout itself (each threshold calibrated only by the record "
           f"below it): {checked['n']} predictions, covered "
           f"{100 * checked['bootstrap_coverage']:.0f}% by the bootstrap intervals and "
           f"{100 * checked['calibrated_coverage']:.0f}% by the calibrated ones.")
  return [title, "",
          f"The rollout's held-out predictions of `{block['label']}` (distance: decades of "
          f"{split} beyond the largest training run): {block['description']}. A target's "
          f"{block['level']:.0%} one-run interval becomes the bootstrap's log half-width h "
          "combined with the growth g as sqrt(h^2 + (g distance)^2) around the prediction times "
          "exp(bias distance) where the bias is corrected; g is the split-conformal quantile of "
          "the growth each held-out prediction needed (`analysis.trust.calibration`). It "
          "assumes the error keeps growing with distance at the record's rate.", "", check]
