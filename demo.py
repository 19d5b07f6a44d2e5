"""The demo end to end on this machine: prepare the corpus, train the sweep, fit, report.

  python demo.py --workdir=demo_out [--max_parallel=K]        (`make demo`)
  python demo.py --workdir=demo_stdlib --sweep=configs/sweeps/stdlib.py   # real text

Prepares the sweep's corpus, trains the sweep (`--sweep`, default `configs/sweeps/demo.py`;
`--sweep.a.b=value` overrides a field) with the local launcher (finished runs are skipped, so
re-running is cheap and resumes an interrupted demo), rebuilds DIR/results.csv, fits and writes
the analysis report into DIR/report/ (fits.json, PNG figures, report.md) and prints a summary:
the Approach 3 law with intervals, its E against the corpus's known floor when it has one, the
Approach 2 exponents and the held-out extrapolation error.

A job over every layer (data, scaling, analysis), so it sits at the top beside train.py. Exit
codes (records.cli): 0 fitted and reported, 2 bad flags or paths, 75 interrupted (run the same
command again to resume).
"""
import os
import pathlib
import sys
from typing import Any, TextIO

import ml_collections
from absl import flags
from ml_collections import config_flags

from analysis.fitting import options as fit_options
from analysis.table import observations
from analysis.report import document as report
from configs.sweeps import demo as demo_config
from data import pipeline
from records import cli
from records import layout
from scaling import grid
from scaling import launch

REPORT_DIR = "report"
DEFAULT_SWEEP = pathlib.Path(demo_config.__file__)


def _interval(block: dict[str, Any], name: str) -> str:
  interval = block.get("ci", {}).get(name)
  if not interval:
    return ""
  return f" [{interval[0]:.3g}, {interval[1]:.3g}]"


def summary_lines(summary: dict[str, Any], report_dir: pathlib.Path) -> list[str]:
  """The printed summary of a fits.json content: fit table, extrapolation, report path.

  Losses in nats/token (bytes here), N non-embedding parameters, D tokens, C = 6ND FLOPs.
  """
  approach3 = summary["approach3"]
  level = approach3.get("level", 0.95)
  lines = [f"Approach 3: L(N, D) = E + A / N^alpha + B / D^beta ({level:.0%} bootstrap "
           f"intervals, {approach3.get('n_resamples', 0)} resamples)"]
  lines += [f"  {name:<6} {value:.4g}{_interval(approach3, name)}"
            for name, value in approach3["params"].items()]
  truth = approach3.get("known_floor")
  if truth:
    lines.append(f"  known floor {truth['floor']:.4g}: E misses it by {truth['miss']:+.3g} "
                 f"nats/token ({truth['relative_miss']:+.2%}); E's interval "
                 f"{'covers' if truth['covered'] else 'does not cover'} it")
  over_forms = summary.get("irreducible_loss", {})
  if "forms" in over_forms:
    names = ", ".join(entry["label"].split("/")[0] for entry in over_forms["forms"])
    line = (f"  E over the forms ({names}, weighted by held-out record): {over_forms['E']:.4g} "
            f"[{over_forms['ci'][0]:.4g}, {over_forms['ci'][1]:.4g}]")
    floor = over_forms.get("known_floor")
    if floor:
      line += (f", {floor['relative_miss']:+.2%} from the floor, which the interval "
               f"{'covers' if floor['covered'] else 'does not cover'}")
    lines.append(line)
  if not approach3.get("identifiable", True):
    lines.append("  NOT identifiable: these numbers are not measurements; reasons:")
    lines += [f"    - {reason}" for reason in approach3["identifiability"]["warnings"]]
  if "a" in approach3 and "b" in approach3:
    lines.append(f"  implied allocation: N_opt ~ C^{float(approach3['a']):.3g}, "
                 f"D_opt ~ C^{float(approach3['b']):.3g}")
  for label, key in (("Approach 2 (IsoFLOP parabolas)", "approach2"),
                     ("Approach 1 (loss envelope)", "approach1")):
    block = summary.get(key, {})
    if "skipped" in block:
      lines.append(f"{label}: skipped ({block['skipped']})")
    elif block:
      lines.append(f"{label}: N_opt ~ C^{block['a']:.3g}{_interval(block, 'a')}, "
                   f"D_opt ~ C^{block['b']:.3g}{_interval(block, 'b')}")
  extrapolation = summary.get("extrapolation", {})
  if "skipped" in extrapolation:
    lines.append(f"held-out extrapolation: skipped ({extrapolation['skipped']})")
  elif extrapolation:
    lines.append(
        f"held-out extrapolation (fit on {extrapolation['n_train']} runs up to "
        f"{extrapolation['train_max_flops']:.3g} FLOPs, predict {extrapolation['n_heldout']} at "
        f"{extrapolation['compute_ratio']:.3g}x that compute or more): "
        f"mean |error| {extrapolation['mean_abs_relative_error']:.2%}, max "
        f"{extrapolation['max_abs_relative_error']:.2%}, prediction-interval coverage "
        f"{extrapolation['prediction_interval_coverage']:.0%}")
    held_out = summary.get("calibration", {}).get("held_out", {})
    if "coverage" in held_out:
      lines.append(f"  calibrated by the rollout record of the training runs alone "
                   f"({held_out['n_record']} predictions): coverage {held_out['coverage']:.0%}, "
                   f"mean |error| {held_out['mean_abs_relative_error']:.2%}")
    for run in extrapolation.get("runs", []):
      lines.append(f"  {run['run_id']}: actual {run['actual']:.4f}, predicted "
                   f"{run['predicted']:.4f} ({run['relative_error']:+.2%})")
  rollout = summary.get("rollout", {})
  if "recommendation" in rollout:
    lines.append(f"rollout on held-out runs: {rollout['recommendation']['statement']}")
  lines += [f"warning: {warning}" for warning in summary.get("warnings", [])]
  lines.append(f"report: {report_dir / 'report.md'}")
  return lines


def run_demo(workdir: pathlib.Path, *, sweep: ml_collections.ConfigDict | None = None,
             max_parallel: int | None = None, n_resamples: int | None = None,
             stream: TextIO = sys.stdout) -> dict[str, Any] | None:
  """Prepare, train, fit, report; returns the fits.json content (None if interrupted).

  `sweep` defaults to `configs/sweeps/demo.py`; `n_resamples` (bootstrap refits per law) to
  the sweep's `analysis.resamples`.
  """
  workdir = pathlib.Path(workdir)
  sweep = sweep if sweep is not None else demo_config.get_config()
  grid.expand(sweep)  # a bad grid is refused before the corpus is prepared
  prepared = pipeline.prepare(sweep.base.data, seq_len=sweep.base.model.seq_len,
                              workers=os.cpu_count() or 1)
  print(f"data: {prepared.manifest['train_tokens']:,} training and "
        f"{prepared.manifest['val_tokens']:,} validation tokens in {prepared.directory}",
        file=stream, flush=True)
  if not launch.launch(sweep, workdir, max_parallel=max_parallel, stream=stream).finished:
    print("the sweep was interrupted; run the same command again to resume", file=stream)
    return None
  table = observations.Observations.from_results_csv(workdir / layout.RESULTS_FILE)
  report_dir = workdir / REPORT_DIR
  resamples = n_resamples if n_resamples is not None else sweep.analysis.resamples
  print(f"fitting {len(table)} runs ({resamples} bootstrap resamples per law)", file=stream,
        flush=True)
  summary = report.build(table, report_dir, n_resamples=resamples, kaplan=False,
                         single_variable=False, seed=0,
                         holdout_flops=sweep.analysis.holdout_flops or None,
                         holdout_gap=sweep.analysis.holdout_gap,
                         fit_options=fit_options.FitOptions(
                             rollout_forms=tuple(sweep.analysis.rollout_forms)))
  print("\n".join(summary_lines(summary, report_dir)), file=stream, flush=True)
  return summary


def _define_flags() -> None:
  """The demo's flags, defined only when it is the program (train.py has a --workdir too)."""
  flags.DEFINE_string("workdir", None, "The demo's sweep directory, e.g. demo_out.")
  flags.DEFINE_integer("max_parallel", 0, "Runs at a time (0: the sweep's launch.max_parallel).")
  config_flags.DEFINE_config_file("sweep", str(DEFAULT_SWEEP),
                                  "The sweep config (configs/sweeps/*.py[:ARG]).")


def main(argv: list[str]) -> int:
  """Runs the demo into --workdir; returns the exit code (see the module docstring)."""
  if len(argv) > 1:
    raise cli.UsageError(f"unexpected arguments {argv[1:]}; usage: python demo.py "
                         f"--workdir=DIR [--sweep=configs/sweeps/NAME.py] [--max_parallel=K]")
  if not flags.FLAGS.workdir:
    raise cli.UsageError("--workdir=DIR is required, e.g. --workdir=demo_out")
  try:
    sweep = flags.FLAGS.sweep
    sweep.get("name")  # config_flags defers a load failure to the first access (an OSError)
  except OSError as error:
    raise cli.UsageError(f"--sweep: {cli.one_line(error.__cause__ or error)}") from None
  summary = run_demo(pathlib.Path(flags.FLAGS.workdir), sweep=sweep,
                     max_parallel=flags.FLAGS.max_parallel or None)
  return cli.EXIT_OK if summary is not None else cli.EXIT_PREEMPTED


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
