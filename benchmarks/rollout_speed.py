"""Benchmark of a full rollout with bootstrap intervals on Gadre et al.'s open_lm runs.

  python benchmarks/rollout_speed.py [--resamples=100] [--objectives=huber] >> BENCHMARKS.md

Data: ../shared/data/gadre2024_overtraining/models_flat.csv, the 34 c4_original runs; N =
params (parameters incl. embeddings), D = tokens, C = 6 N D (FLOPs). For each loss column
(`loss_openlm` and `loss_c4_val`, nats/token) `analysis.trust.rollout.rollout` compares the
Chinchilla form L(N, D) and the over-training form L(C, M) of Gadre et al. 2024, split by N at
its default thresholds (the last two hold out the runs >= 1.44e9 and the 6.9e9 run), each fit
with `--resamples` warm-started bootstrap refits for the prediction intervals. Everything runs
in one process and is timed end to end, compilation included (target: < 60 s on 2 cores).
Prints a markdown section: machine, versions, load average, times, the held-out errors of the
1.4B and 6.9B runs when fitted on the runs below 1e9 parameters, and the recommendations.
"""
import csv
import datetime
from importlib import metadata
import os
import pathlib
import platform
import time

from absl import app
from absl import flags
import numpy as np

from analysis.trust import rollout
from analysis.fitting import options as fit_options

import host  # benchmarks/host.py, beside this script

_DATA = flags.DEFINE_string(
    "data", str(pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" /
                "gadre2024_overtraining" / "models_flat.csv"), "Gadre et al.'s models_flat.csv")
_RESAMPLES = flags.DEFINE_integer("resamples", 100, "bootstrap refits per fit")
_LEVEL = flags.DEFINE_float("level", 0.9, "coverage of the prediction intervals")
_OBJECTIVES = flags.DEFINE_list("objectives", ["huber"], "objective kinds to compare")
_COLUMNS = ("loss_openlm", "loss_c4_val")
_BILLION = 1e9


def _load(path: str) -> list[dict[str, str]]:
  with open(path) as file:
    return [row for row in csv.DictReader(file) if row["dataset"] == "c4_original"]


def main(argv):
  del argv
  rows = _load(_DATA.value)
  n = np.array([float(row["params"]) for row in rows])
  d = np.array([float(row["tokens"]) for row in rows])
  load_before = os.getloadavg()[0]
  wall, cpu = time.perf_counter(), time.process_time()
  results, seconds = {}, {}
  for column in _COLUMNS:
    started = time.perf_counter()
    results[column] = rollout.rollout(
        dict(n=n, d=d, c=6 * n * d, loss=np.array([float(row[column]) for row in rows])),
        fit_options.FitOptions(rollout_forms=("chinchilla", "overtraining"),
                               rollout_objectives=tuple(_OBJECTIVES.value), rollout_split="n",
                               rollout_resamples=_RESAMPLES.value),
        level=_LEVEL.value, seed=0, run_ids=[row["name"] for row in rows])
    seconds[column] = time.perf_counter() - started
  wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
  load_after = os.getloadavg()[0]

  versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("jax", "numpy", "scipy"))
  print(f"\n## Rollout with bootstrap intervals on Gadre et al.'s c4_original runs "
        f"({datetime.date.today().isoformat()})\n")
  print(f"Machine: {host.cpu_model()}, {os.cpu_count()} cores (shared; load average "
        f"{load_before:.1f} at the start, {load_after:.1f} at the end). Python "
        f"{platform.python_version()}, {versions}. Command: `python benchmarks/rollout_speed.py "
        f"--resamples={_RESAMPLES.value} --objectives={','.join(_OBJECTIVES.value)}`. "
        f"Forms: chinchilla L(N, D) and overtraining L(C, M); objectives "
        f"{', '.join(_OBJECTIVES.value)}; split by N at {results[_COLUMNS[0]].thresholds}; "
        f"{_RESAMPLES.value} warm-started bootstrap refits per fit; {_LEVEL.value:.0%} "
        f"new-run intervals from the training residuals.\n")
  print("| what | wall |")
  print("|---|---|")
  for column in _COLUMNS:
    print(f"| rollout of `{column}` | {seconds[column]:.1f} s |")
  target = " (target < 60 s)" if len(_OBJECTIVES.value) == 1 else ""
  print(f"| both, one process, compilation included{target} | {wall:.1f} s "
        f"(process CPU {cpu:.1f} s) |")
  print(f"\nHeld-out runs >= 1e9 parameters, fitted on the {int(np.sum(n < _BILLION))} runs "
        f"below 1e9:\n")
  print("| loss | form/objective | run | N | D | predicted | actual | relative error | "
        f"{_LEVEL.value:.0%} interval | covered |")
  print("|---|---|---|---|---|---|---|---|---|---|")
  for column, result in results.items():
    threshold = min(t for t in result.thresholds if t > _BILLION)
    for row in result.rows:
      if row["threshold"] == threshold:
        print(f"| {column} | {row['label']} | {row['run']} | {row['n']:.3g} | {row['d']:.3g} | "
              f"{row['predicted']:.4f} | {row['actual']:.4f} | {row['relative_error']:+.2%} | "
              f"{row['low']:.3f}-{row['high']:.3f} | {'yes' if row['covered'] else 'no'} |")
  print()
  for column, result in results.items():
    print(f"- `{column}`: {result.recommend()['statement']}.")


if __name__ == "__main__":
  app.run(main)
