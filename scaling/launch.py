"""`python -m scaling --config=configs/sweeps/<name>.py --workdir=SWEEP`: run a sweep.

Validates and expands the sweep (every error before anything starts), writes the run
directories and SWEEP/sweep.json, runs what is not finished on the chosen backend, and rebuilds
SWEEP/results.csv. Re-running the same command skips finished runs, resumes interrupted ones
from their checkpoints and starts the rest; runs that failed get a fresh retry budget
(`retry_failed`); diverged runs are final.
"""
import pathlib
import sys
from typing import TextIO

import ml_collections

from scaling import collect, estimate, local, rundir, runner, runs, schedule, tables
from scaling import progress as progress_lib

BACKENDS = ("local", "ray")


def check_backend(backend: str) -> None:
  """Raises ValueError for an unknown backend name."""
  if backend not in BACKENDS:
    raise ValueError(f"--backend={backend!r} is unknown; use one of {', '.join(BACKENDS)}")


def dry_run(sweep: ml_collections.ConfigDict, sweep_dir: pathlib.Path, *, max_parallel: int,
            throughput: estimate.Throughput | None = None, stream: TextIO = sys.stdout) -> None:
  """Prints the run table, estimated times and total compute; starts no run."""
  planned = runs.plan(sweep, sweep_dir)
  throughput = throughput or estimate.throughput_for(sweep_dir, planned)
  rows = [run.row() for run in planned]
  seconds = [throughput.seconds(row["flops_exact"]) for row in rows]
  print(tables.dry_run_table(rows, seconds, max_parallel, throughput.source), file=stream)


def launch(sweep: ml_collections.ConfigDict, sweep_dir: pathlib.Path, *, backend: str = "local",
           max_parallel: int | None = None, retry_failed: bool = True,
           ray_address: str | None = None, trainer: pathlib.Path = runner.DEFAULT_TRAINER,
           stream: TextIO = sys.stdout) -> bool:
  """Runs the sweep to the end; True when every run reached a final state (not interrupted)."""
  check_backend(backend)
  settings = sweep.launch
  max_parallel = max_parallel or settings.max_parallel
  if max_parallel < 1:
    raise ValueError(f"--max_parallel={max_parallel} must be at least 1")
  groups = None
  if backend == "local" and settings.gpus_per_run > 0:
    groups = local.gpu_groups(settings.gpus_per_run)
    max_parallel = min(max_parallel, len(groups))
  sweep_dir = pathlib.Path(sweep_dir).resolve()
  planned = runs.plan(sweep, sweep_dir)
  runs.materialize(planned, sweep_dir, sweep.name, settings.lease_stale_seconds)
  to_run = []
  for run in planned:
    state = rundir.read_state(run.run_dir, settings.lease_stale_seconds).state
    if state in ("done", "diverged") or (state == "failed" and not retry_failed):
      continue
    to_run.append(run.run_dir)
  print(f"sweep {sweep.name}: {len(planned)} runs, {len(planned) - len(to_run)} already "
        f"finished, {len(to_run)} to run on the {backend} backend", file=stream, flush=True)
  runner_settings = dict(max_retries=settings.max_retries,
                         stale_seconds=settings.lease_stale_seconds,
                         heartbeat_seconds=settings.heartbeat_seconds, trainer=trainer)
  if backend == "local":
    executor = local.LocalExecutor(device_groups=groups, **runner_settings)
  else:
    from scaling import ray_backend  # pylint: disable=import-outside-toplevel
    executor = ray_backend.RayExecutor(
        address=ray_address, num_cpus=settings.num_cpus, num_gpus=settings.num_gpus,
        resources=dict(settings.resources), **runner_settings)
    max_parallel = len(to_run) or 1
  progress = progress_lib.Progress(sweep_dir, [run.row() for run in planned],
                                   settings.lease_stale_seconds, stream=stream)
  finished = schedule.run_all(executor, to_run, max_parallel=max_parallel,
                              stale_seconds=settings.lease_stale_seconds, progress=progress)
  for run in planned:
    state = rundir.read_state(run.run_dir, settings.lease_stale_seconds)
    if state.state in ("failed", "diverged"):
      print(f"{state.state} {run.run_id}: {state.reason}", file=stream)
  results_path = collect.write_results(sweep_dir)
  print(f"results: {results_path}", file=stream, flush=True)
  return finished
