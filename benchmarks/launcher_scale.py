"""The launcher's bookkeeping at scale: a 10,000-run sweep, no training.

  python benchmarks/launcher_scale.py [--runs_per_size=2000] [--append=BENCHMARKS.md]

The sweep is `configs/sweeps/tiny.py` widened to 5 sizes x `runs_per_size` token budgets
(distinct whole steps, so no two entries merge). Timed, each in this process:
- the dry run (`launch.dry_run`: plan, preflight of every run config, the run table): with the
  throughput given as `--throughput` does; first on a fresh sweep and machine, which starts a
  training worker as it begins and has it time a few steps of the smallest run once the runs are
  planned (the throughput is cached in the sweep and for the machine);
  again, reading the sweep's cache; first on another sweep of the same step shapes, reading the
  machine's cache; and on the populated sweep, calibrating from its finished runs;
- materializing the run directories (config.json each, sweep.json);
- `scaling status` (`status.print_status`) over the sweep with synthetic states: 60% finished
  with a result.json, 10% failed, 5% holding a fresh lease, the rest pending;
- the results.csv rebuild (`collect.write_results`) over the same directories.
Target: the dry run, status and the rebuild each under 5 s on 2 cores. Prints a markdown section;
`--append` adds it to a file.
"""
import datetime
import io
import os
import pathlib
import platform
import tempfile
import time
from typing import Callable

import jax
import numpy as np
from absl import app, flags

from configs.sweeps import tiny
from records import atomic
from records import layout
from records.result import Key
from scaling import collect, estimate, launch, lease, runs, status

import host  # benchmarks/host.py, beside this script

_RUNS_PER_SIZE = flags.DEFINE_integer("runs_per_size", 2000, "token budgets per size")
_APPEND = flags.DEFINE_string("append", "", "markdown file to append the section to")

SIZES = (10_000, 20_000, 40_000, 80_000, 160_000)
TARGET_SECONDS = 5.0


def _sweep(runs_per_size: int):
  sweep = tiny.get_config()
  sweep.name = "launcher_scale"
  tokens_per_step = sweep.base.train.batch_size * sweep.base.model.seq_len
  sweep.grid.update(sizes=SIZES,
                    tokens=tuple(tokens_per_step * (64 + k) for k in range(runs_per_size)))
  return sweep


def _timed(function: Callable[[], object]) -> float:
  start = time.perf_counter()
  function()
  return time.perf_counter() - start


def _synthetic_result(run: runs.PlannedRun, index: int) -> dict:
  """A result.json as a finished run writes it, with a loss that falls with N and D."""
  row = run.row()
  n, d = row["n_params_non_embedding"], row["tokens"]
  loss = 1.7 + 400.0 / n**0.34 + 400.0 / d**0.28
  return {Key.STATUS: "completed" if index % 8 else "failed", Key.FINAL_EVAL_LOSS: loss,
          Key.FINAL_TRAIN_LOSS: loss + 0.01, Key.N_PARAMS_TOTAL: row["n_params_total"],
          Key.N_PARAMS_EMBEDDING: row["n_params_total"] - n, Key.N_PARAMS_NON_EMBEDDING: n,
          Key.TOKENS: d, Key.FLOPS_6ND: 6.0 * n * d, Key.FLOPS_EXACT: row["flops_exact"],
          Key.FLOPS_SPENT: row["flops_spent"], Key.SCHEDULE: "cosine", Key.WALL_SECONDS: 60.0,
          Key.TOKENS_PER_SECOND: 1e5, Key.CONFIG: runs.config_json(run.config)}


def _populate(planned: list[runs.PlannedRun]) -> None:
  """Synthetic run states: 60% with a result.json (1 in 8 of them failed), 5% leased, rest
  pending."""
  for index, run in enumerate(planned):
    share = index % 20
    if share < 12:
      atomic.write_json_atomic(run.run_dir / layout.RESULT_FILE, _synthetic_result(run, index))
    elif share == 12:
      lease.Lease(run.run_dir, 60.0).acquire()


def main(argv):
  del argv
  sweep = _sweep(_RUNS_PER_SIZE.value)
  load_before = os.getloadavg()[0]
  with tempfile.TemporaryDirectory() as tmp:
    sweep_dir = pathlib.Path(tmp) / "sweep"
    estimate.MACHINE_CACHE = pathlib.Path(tmp) / "machine_throughput.json"
    given = estimate.Throughput(1e9, 5.0, "--throughput")
    sink = io.StringIO()
    dry_run = _timed(lambda: launch.dry_run(sweep, sweep_dir, max_parallel=8,
                                            throughput=given, stream=sink))
    planned = runs.plan(sweep, sweep_dir)
    probed = _timed(lambda: launch.dry_run(sweep, sweep_dir, max_parallel=8,
                                           stream=io.StringIO()))
    cached = _timed(lambda: launch.dry_run(sweep, sweep_dir, max_parallel=8,
                                           stream=io.StringIO()))
    machine = _timed(lambda: launch.dry_run(sweep, pathlib.Path(tmp) / "another",
                                            max_parallel=8, stream=io.StringIO()))
    materialize = _timed(lambda: runs.materialize(planned, sweep_dir, sweep.name))
    _populate(planned)
    calibrated = _timed(lambda: launch.dry_run(sweep, sweep_dir, max_parallel=8,
                                               stream=io.StringIO()))
    status_seconds = _timed(lambda: status.print_status(sweep_dir, io.StringIO()))
    rebuild = _timed(lambda: collect.write_results(sweep_dir))
    rows = len(collect.collect(sweep_dir))
  load_after = os.getloadavg()[0]

  def verdict(seconds: float) -> str:
    return "yes" if seconds < TARGET_SECONDS else "**no**"

  section = f"""
## Launcher at scale ({datetime.date.today()})

Machine: {host.cpu_model()}, {os.cpu_count()} cores (load average {load_before:.1f} at the start,
{load_after:.1f} at the end). Python {platform.python_version()}, jax {jax.__version__},
numpy {np.__version__}. Command: `python benchmarks/launcher_scale.py \
--runs_per_size={_RUNS_PER_SIZE.value}`.

A sweep of {len(planned):,} runs ({len(SIZES)} sizes x {_RUNS_PER_SIZE.value} token budgets of
`configs/sweeps/tiny.py`), synthetic run directories, no training; {rows:,} finished rows.

| step | seconds | under {TARGET_SECONDS:.0f} s |
|---|---|---|
| dry run (plan, preflight, table), throughput given | {dry_run:.2f} | {verdict(dry_run)} |
| dry run, first: a training worker times {estimate.CALIBRATION_STEPS} steps | {probed:.2f} \
| {verdict(probed)} |
| dry run again: the probe's throughput.json read back | {cached:.2f} | {verdict(cached)} |
| first dry run of another sweep, same step shapes: the machine's cache | {machine:.2f} \
| {verdict(machine)} |
| dry run of the populated sweep: throughput from its finished runs | {calibrated:.2f} \
| {verdict(calibrated)} |
| materialize run directories | {materialize:.2f} | |
| `scaling status` | {status_seconds:.2f} | {verdict(status_seconds)} |
| results.csv rebuild | {rebuild:.2f} | {verdict(rebuild)} |
"""
  host.publish(section, _APPEND.value)


if __name__ == "__main__":
  app.run(main)
