"""The held-out scoreboard: how well each method extrapolates, on every shared dataset.

  python benchmarks/scoreboard.py [--resamples=20] [--append_to=BENCHMARKS.md]

For every dataset of `heldout_data.LOADERS` present under --data (an absent one is skipped with a
line), the rollout (`analysis.trust.rollout`) fits every form below each threshold of its split
variable (at most --max_thresholds of the default thresholds, evenly spread, the first and last
kept) and predicts the runs at or above it, with --level bootstrap new-run intervals. Methods:

- baseline: Approach 3, Chinchilla's L(N, D) with Huber loss and the multi-start search;
- calibrated: the baseline's predictions and intervals calibrated by the record below each
  threshold (`analysis.trust.calibration.out_of_sample`; no record at the first threshold, so
  there it is the bootstrap interval);
- chosen / averaged: the form chosen by the record below each threshold, or the forms averaged
  by held-out weight (`analysis.trust.selection`); coverage is the chosen form's bootstrap
  interval;
- projection: the baseline with the variable-projection search (`FitOptions(search=
  'projection')`);
- checkpoints: the baseline fitted on every checkpoint past the first 10% of each curve, curves
  weighted equally and resampled whole (`analysis.trust.checkpoint_record`, the Hitchhiker
  recipe), scored on the same final losses; only where the dataset has checkpoints.

Errors are mean |predicted / actual - 1|, in bins of the distance of extrapolation (decades of
the split variable beyond the largest training run). Prints a markdown section (machine,
versions, the table, the acceptance checks) and appends it to --append_to. --cache keeps each
rollout's rows, so a rerun with the same settings only rebuilds the table.
"""
import dataclasses
import datetime
from importlib import metadata
import json
import os
import pathlib
import platform
import sys
import time

from absl import app
from absl import flags
import numpy as np

from analysis.fitting import options as fit_options
from analysis.trust import calibration
from analysis.trust import checkpoint_record
from analysis.trust import rollout
from analysis.trust import selection
from training import compilation
import heldout_data  # beside this script
import host  # beside this script

_SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
_DATA = flags.DEFINE_string("data", str(_SHARED), "the shared data folder")
_DATASETS = flags.DEFINE_list("datasets", list(heldout_data.LOADERS), "loaders to run")
_ONLY = flags.DEFINE_list("only", [], "run only the datasets whose name contains one of these "
                          "(e.g. 'porian rw/base'); empty runs every dataset of --datasets")
_RESAMPLES = flags.DEFINE_integer("resamples", 20, "warm-started bootstrap refits per fit")
_LEVEL = flags.DEFINE_float("level", 0.95, "coverage of the prediction intervals")
_MAX_THRESHOLDS = flags.DEFINE_integer("max_thresholds", 5, "thresholds per dataset, at most")
_CACHE = flags.DEFINE_string("cache", "", "folder keeping each rollout's rows ('' for none)")
_APPEND_TO = flags.DEFINE_string("append_to", "", "markdown file to append the section to")
BINS = rollout.DISTANCE_BINS
BASELINE = "chinchilla/huber"
METHODS = ("baseline", "calibrated", "chosen", "averaged", "projection", "checkpoints")


def thinned(thresholds: list[float], most: int) -> list[float]:
  """At most `most` of `thresholds`, evenly spread by index, the first and last kept."""
  if len(thresholds) <= most:
    return list(thresholds)
  return [thresholds[i] for i in sorted(set(np.linspace(0, len(thresholds) - 1, most)
                                            .round().astype(int)))]


def _cached(name: str, method: str, compute) -> rollout.RolloutResult:
  """The rollout `compute()`, read from or written to the cache folder when there is one."""
  settings = f"r{_RESAMPLES.value}_l{_LEVEL.value}_t{_MAX_THRESHOLDS.value}"
  path = (pathlib.Path(_CACHE.value) / f"{name}_{method}_{settings}.json".replace(" ", "_")
          .replace("/", "-")) if _CACHE.value else None
  if path is not None and path.is_file():
    saved = json.loads(path.read_text())
    return rollout.RolloutResult(rows=saved["rows"], fits=[], split_by=saved["split_by"],
                                 thresholds=saved["thresholds"], level=saved["level"])
  result = compute()
  if path is not None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(rows=result.rows, split_by=result.split_by,
                                    thresholds=result.thresholds, level=result.level)))
  return result


def _rollouts(name: str, dataset: heldout_data.Dataset) -> dict[str, rollout.RolloutResult]:
  """Every method's rollout of one dataset: {'forms', 'projection', 'checkpoints'}."""
  options = fit_options.FitOptions(rollout_forms=dataset.forms, rollout_split=dataset.split,
                                   rollout_resamples=_RESAMPLES.value)
  min_train = max(len(c.form().parameters) for c in options.rollout_candidates()) + 3
  thresholds = thinned(rollout.default_thresholds(dataset.runs, dataset.split, min_train),
                       _MAX_THRESHOLDS.value)
  options = dataclasses.replace(options, rollout_thresholds=tuple(thresholds))
  baseline = dataclasses.replace(options, rollout_forms=("chinchilla",))
  settings = dict(level=_LEVEL.value, seed=0)
  found = {
      "forms": _cached(name, "forms", lambda: rollout.rollout(
          dataset.runs, options, run_ids=dataset.run_ids, **settings)),
      "projection": _cached(name, "projection", lambda: rollout.rollout(
          dataset.runs, dataclasses.replace(baseline, search="projection"),
          run_ids=dataset.run_ids, **settings))}
  if dataset.table is not None:
    found["checkpoints"] = _cached(name, "checkpoints", lambda: checkpoint_record.rollout_recipe(
        dataset.table, "hitchhiker", baseline, **settings))
  return found


def _method_rows(results: dict[str, rollout.RolloutResult]) -> dict[str, list[dict]]:
  """Per method: rows of (threshold, run, split_distance, error, covered or None)."""
  def rows(source, predicted, covered):
    return [dict(threshold=r["threshold"], run=r["run"], distance=r["split_distance"],
                 n=r["n"], error=r[predicted] / r["actual"] - 1,
                 covered=None if covered is None else bool(r[covered])) for r in source]

  forms = results["forms"]
  chosen = selection.select(forms, BASELINE)
  found = {
      "baseline": rows([r for r in forms.rows if r["label"] == BASELINE], "predicted", "covered"),
      "calibrated": rows(calibration.out_of_sample(forms, BASELINE), "calibrated_predicted",
                         "calibrated_covered"),
      "chosen": rows(chosen.rows, "chosen_predicted", "chosen_covered"),
      "averaged": rows(chosen.rows, "averaged_predicted", None),
      "projection": rows(results["projection"].rows, "predicted", "covered")}
  if "checkpoints" in results:
    found["checkpoints"] = rows(results["checkpoints"].rows, "predicted", "covered")
  return found


def _bin_of(distance: float) -> int:
  return int(np.searchsorted(BINS, distance, side="right"))


def _bin_names() -> list[str]:
  edges = (None,) + BINS + (None,)
  return [f"< {hi:g}" if lo is None else f"> {lo:g}" if hi is None else f"{lo:g}-{hi:g}"
          for lo, hi in zip(edges[:-1], edges[1:])]


def _cell(rows: list[dict]) -> str:
  if not rows:
    return "-"
  error = 100 * np.mean([abs(r["error"]) for r in rows])
  covered = [r["covered"] for r in rows if r["covered"] is not None]
  return f"{error:.2f}%" + (f" ({100 * np.mean(covered):.0f}%)" if covered else "")


def _mean_error(rows: list[dict]) -> float:
  return float(np.mean([abs(r["error"]) for r in rows])) if rows else float("nan")


def _score_dataset(name: str, split: str, by_method: dict[str, list[dict]]
                   ) -> tuple[list[str], dict | None, dict[str, list[dict]]]:
  """(table lines, the acceptance figures, the scored rows per method) of one dataset.

  The first threshold is record only: no method has a record below it, so the calibrated, chosen
  and averaged predictions are the baseline's there; it gets a line of its own, and every
  figure is over the later thresholds."""
  names = _bin_names()
  first = min(r["threshold"] for r in by_method["baseline"])
  scored = {m: [r for r in rows if r["threshold"] > first] for m, rows in by_method.items()}
  lines = []
  filled = sorted({_bin_of(r["distance"]) for r in scored["baseline"]})
  for index in filled + [None]:
    chosen = {m: [r for r in rows if index is None or _bin_of(r["distance"]) == index]
              for m, rows in scored.items()}
    lines.append(f"| {name} ({split.upper()}) | {'all' if index is None else names[index]} | "
                 f"{len(chosen['baseline'])} | "
                 + " | ".join(_cell(chosen.get(m, [])) for m in METHODS) + " |")
  initial = {m: [r for r in rows if r["threshold"] == first] for m, rows in by_method.items()}
  lines.append(f"| {name} ({split.upper()}) | first threshold, record only | "
               f"{len(initial['baseline'])} | "
               + " | ".join(_cell(initial.get(m, [])) for m in METHODS) + " |")
  if not filled:
    return lines, None, scored
  far = filled[-1]
  errors = {m: _mean_error([r for r in scored[m] if _bin_of(r["distance"]) == far])
            for m in ("baseline", "chosen", "averaged")}
  check = dict(name=name, far=names[far], n_far=sum(_bin_of(r["distance"]) == far
                                                    for r in scored["baseline"]),
               coverage=float(np.mean([r["covered"] for r in scored["calibrated"]])),
               uncalibrated=float(np.mean([r["covered"] for r in scored["baseline"]])), **errors)
  return lines, check, scored


def main(argv):
  del argv
  compilation.enable(compilation.CACHE_DIR.value, 1.0)
  root = pathlib.Path(_DATA.value)
  lines, skipped, checks, gadre_lines = [], [], [], []
  pooled = {"baseline": [], "calibrated": []}
  started, load_before = time.perf_counter(), os.getloadavg()[0]
  for key in _DATASETS.value:
    folder, loader = heldout_data.LOADERS[key]
    if not (root / folder).is_dir():
      skipped.append(f"- {key}: skipped, {root / folder} is absent")
      print(skipped[-1], file=sys.stderr)
      continue
    for name, dataset in loader(root).items():
      if _ONLY.value and not any(part in name for part in _ONLY.value):
        skipped.append(f"- {name}: not run (--only)")
        continue
      print(f"{name}: {dataset.runs['loss'].size} runs", file=sys.stderr)
      by_method = _method_rows(_rollouts(name, dataset))
      new_lines, check, scored = _score_dataset(name, dataset.split, by_method)
      lines += new_lines
      checks += [check] if check else []
      for method in pooled:
        pooled[method] += scored[method]
      if name.startswith("gadre"):
        gadre_lines += _gadre_target(name, by_method)
  section = _section(lines, skipped, checks, pooled, gadre_lines, load_before,
                     time.perf_counter() - started)
  host.publish(section, _APPEND_TO.value)


def _gadre_target(name: str, by_method: dict[str, list[dict]]) -> list[str]:
  """The 6.9B run predicted from the runs below 1e9 parameters, per method."""
  threshold = min(r["threshold"] for r in by_method["baseline"] if r["threshold"] > 1e9)
  cells = []
  for method in ("baseline", "calibrated", "chosen", "averaged", "projection"):
    rows = [r for r in by_method[method] if r["threshold"] == threshold and r["n"] > 6e9]
    cells.append(f"{100 * rows[0]['error']:+.2f}%" if rows else "-")
  return [f"| {name} | " + " | ".join(cells) + " |"]


def _section(lines, skipped, checks, pooled, gadre_lines, load_before, seconds) -> str:
  versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("jax", "numpy", "scipy"))
  level = f"{_LEVEL.value:.0%}"
  coverage = {m: np.mean([r["covered"] for r in rows]) if rows else float("nan")
              for m, rows in pooled.items()}
  lowest = min(checks, key=lambda c: c["coverage"]) if checks else None
  counts = {m: (sum(c[m] <= c["baseline"] + 1e-12 for c in checks),
                sum(c[m] < c["baseline"] - 1e-12 for c in checks)) for m in ("chosen", "averaged")}
  far_rows = [f"| {c['name']} | {c['far']} ({c['n_far']}) | {100 * c['baseline']:.2f}% | "
              f"{100 * c['chosen']:.2f}% | {100 * c['averaged']:.2f}% | "
              f"{100 * c['coverage']:.0f}% | {100 * c['uncalibrated']:.0f}% |" for c in checks]
  header = " | ".join(f"{m}" for m in METHODS)
  return "\n".join([
      f"\n## Held-out scoreboard ({datetime.date.today().isoformat()})\n",
      f"Machine: {host.cpu_model()}, {os.cpu_count()} cores (shared; load average "
      f"{load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end). Python "
      f"{platform.python_version()}, {versions}. Command: `python benchmarks/scoreboard.py "
      f"--resamples={_RESAMPLES.value} --level={_LEVEL.value} "
      f"--max_thresholds={_MAX_THRESHOLDS.value}` ({seconds:.0f} s). At most "
      f"{_MAX_THRESHOLDS.value} thresholds per dataset, {_RESAMPLES.value} warm-started "
      f"bootstrap refits per fit, {level} new-run intervals. Forms compared by the chooser: "
      f"{', '.join(heldout_data.FORMS)} (and data_constrained on datablations2023). Each "
      f"cell: mean |relative error| (coverage of the {level} interval). Distance: decades of "
      "the split variable (C or N, in brackets) beyond the largest training run. The first "
      "threshold of each dataset is record only (no method has a record below it, so there "
      "calibrated, chosen and averaged are the baseline); every other figure is over the later "
      "thresholds, where each method acts on the record below its threshold only.\n",
      f"| dataset | distance | predictions | {header} |",
      "|---|---|---|" + "---|" * len(METHODS), *lines, "", *skipped,
      "",
      f"Coverage of the {level} intervals, pooled over every scored held-out prediction "
      "(thresholds after the first): "
      f"calibrated {100 * coverage['calibrated']:.1f}%, uncalibrated (bootstrap) "
      f"{100 * coverage['baseline']:.1f}% ({len(pooled['baseline'])} predictions). Lowest "
      f"calibrated coverage of a dataset: "
      + (f"{100 * lowest['coverage']:.0f}% ({lowest['name']})." if lowest else "none."),
      "",
      "At the largest distance bin of each dataset (mean |relative error|; predictions in "
      "brackets), and the coverage of the calibrated and bootstrap intervals over all its "
      "scored distances:\n",
      "| dataset | bin | baseline | chosen | averaged | calibrated coverage | "
      "uncalibrated coverage |",
      "|---|---|---|---|---|---|---|", *far_rows, "",
      f"At that bin the chosen form is at most the baseline on {counts['chosen'][0]} of "
      f"{len(checks)} datasets and lower on {counts['chosen'][1]}; the average by held-out "
      f"weight at most on {counts['averaged'][0]}, lower on {counts['averaged'][1]}.", "",
      "The 6.9B run of Gadre et al. predicted from the runs below 1e9 parameters (relative "
      "error):\n",
      "| dataset | baseline | calibrated | chosen | averaged | projection |",
      "|---|---|---|---|---|---|", *gadre_lines, ""])


if __name__ == "__main__":
  app.run(main)
