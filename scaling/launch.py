"""`python -m scaling --config=configs/sweeps/<name>.py --workdir=SWEEP`: run a sweep.

Validates and expands the sweep (every error before anything starts: a malformed grid, a run
config train.py would reject, a workdir holding another sweep), writes the run directories and
SWEEP/sweep.json, runs what is not finished on the chosen backend, and rebuilds
SWEEP/results.csv. A sweep that searches its learning rate (`scaling.lr_search`) trains its
probes in SWEEP/lr_search first and its runs with the fitted law. Re-running the same command
skips finished runs, resumes interrupted ones from their checkpoints and starts the rest; runs
that failed get a fresh retry budget
(`retry_failed`); diverged runs are final. The last line printed sums up the sweep; the exit
code (`Outcome.exit_code`) is 0 when every run completed or diverged, 1 when any failed, 75 when
the launch was interrupted.
"""
import dataclasses
import functools
import pathlib
import sys
from typing import TextIO

import ml_collections

from configs import schema
from records import cli
from records.status import SweepState
from scaling import (collect, estimate, grid, hparams, ladder, local, lr_search, preflight, rundir,
                     runner, runs, schedule, tables)
from scaling import hosts as hosts_lib
from scaling import progress as progress_lib

BACKENDS = ("local", "ray")
_NAMED_FAILURES = 5


@dataclasses.dataclass(frozen=True)
class Outcome:
  """How a launch ended."""
  finished: bool           # every run reached a final state (False: stopped by a signal)
  failed: tuple[str, ...]  # ids of the runs whose final state is 'failed'

  @property
  def exit_code(self) -> int:
    """EXIT_PREEMPTED when interrupted, else EXIT_FAILED when a run failed, else EXIT_OK."""
    if not self.finished:
      return cli.EXIT_PREEMPTED
    return cli.EXIT_FAILED if self.failed else cli.EXIT_OK


def check_backend(backend: str) -> None:
  """Raises ValueError for an unknown backend name."""
  if backend not in BACKENDS:
    raise ValueError(f"--backend={backend!r} is unknown; use one of {', '.join(BACKENDS)}")


def plan_checked(sweep: ml_collections.ConfigDict, sweep_dir: pathlib.Path, *, backend: str,
                 stream: TextIO) -> list[runs.PlannedRun]:
  """The sweep's runs after every check that needs no run (ValueError, one line, if bad).

  Checks the sweep's keys (configs/sweeps/base.py declares them all), the grid, that `sweep_dir`
  holds no other sweep and that train.py accepts every run config; prints a notice for grid
  entries that resolve to the same run, and a warning for a published hyperparameter law
  applied outside the range it was fitted on. Writes nothing. A learning-rate search's runs
  are planned at its grid's centre, and its first probes are checked too.
  """
  planned = _plan(sweep, sweep_dir, backend)
  _check(sweep, sweep_dir, planned, backend, stream)
  return planned


def _plan(sweep: ml_collections.ConfigDict, sweep_dir: pathlib.Path,
          backend: str) -> list[runs.PlannedRun]:
  """The sweep's runs, after the checks of its keys and grid."""
  return runs.plan(_planned_sweep(sweep, backend), sweep_dir)


def _planned_sweep(sweep: ml_collections.ConfigDict, backend: str) -> ml_collections.ConfigDict:
  """The sweep as planned (a learning-rate search at its grid's centre), after the checks of its
  keys and grid."""
  check_backend(backend)
  schema.SWEEP.check(sweep)
  if not lr_search.applies(sweep):
    return sweep
  lr_search.check(sweep)
  return lr_search.centred(sweep)


def _check(sweep: ml_collections.ConfigDict, sweep_dir: pathlib.Path,
           planned: list[runs.PlannedRun], backend: str, stream: TextIO) -> None:
  """The checks of planned runs: the workdir, every run config, notices and range warnings."""
  searching = lr_search.applies(sweep)
  runs.check_same_sweep(sweep, sweep_dir)
  preflight.check_runs(sweep, planned, backend)
  if searching:
    preflight.check_runs(sweep, lr_search.plan_probes(sweep, sweep_dir), backend)
  for notice in runs.merge_notices(planned):
    print(notice, file=stream)
  points = [grid.published_point(sweep.base.model, run.spec.shape, run.spec.tokens)
            for run in planned]
  for warning in hparams.range_warnings(sweep, points):
    print(warning, file=stream)


def dry_run(sweep: ml_collections.ConfigDict, sweep_dir: pathlib.Path, *, max_parallel: int,
            backend: str = "local", throughput: estimate.Throughput | None = None,
            stream: TextIO = sys.stdout) -> None:
  """Prints the run table, estimated times and total compute; starts no run.

  Without a given or known throughput (see `estimate.known_throughput`, then this machine's
  cache, `estimate.machine_throughput`) the sweep's smallest run is timed for a few steps by a
  training worker that starts importing before the runs are planned and trains while they are
  checked; the measurement is kept in SWEEP/throughput.json and in the machine's cache."""
  throughput = throughput or estimate.known_throughput(sweep_dir)
  calibration = None if throughput else estimate.Calibration()
  try:
    planned_sweep = _planned_sweep(sweep, backend)
    specs = grid.expand(planned_sweep)
    calibration_run = estimate.calibration_run(specs)
    throughput = throughput or estimate.machine_throughput(calibration_run)
    if calibration and throughput:
      calibration.cancel()
      calibration = None
    elif calibration:
      calibration.time(calibration_run)
    planned = runs.plan(planned_sweep, sweep_dir, specs)
    _check(sweep, sweep_dir, planned, backend, stream)
  except BaseException:
    if calibration:
      calibration.cancel()
    raise
  if calibration:
    throughput = calibration.result()
    estimate.save_calibration(sweep_dir, calibration_run, throughput)
  rows = [run.row() for run in planned]
  seconds = [throughput.seconds(row["flops_spent"]) for row in rows]
  if lr_search.applies(sweep):
    probes = lr_search.plan_probes(sweep, sweep_dir)
    probe_rows = [run.row() for run in probes]
    print(f"learning-rate search: {len(probes)} probe runs in "
          f"{pathlib.Path(sweep_dir) / lr_search.SEARCH_DIR} first (grids may grow at an "
          "edge); the runs after them show the grid's centre learning rate until the law is "
          "fitted", file=stream)
    print(tables.dry_run_table(
        probe_rows, [throughput.seconds(row["flops_spent"]) for row in probe_rows],
        max_parallel, throughput.source), file=stream)
  print(tables.dry_run_table(rows, seconds, max_parallel, throughput.source), file=stream)
  gang_line = hosts_lib.layout_line(sweep.launch, backend)
  if gang_line:
    print(gang_line, file=stream)
  if ladder.applies(sweep):
    print(tables.savings_line(ladder.savings([run.spec for run in planned])), file=stream)


def launch(sweep: ml_collections.ConfigDict, sweep_dir: pathlib.Path, *, backend: str = "local",
           max_parallel: int | None = None, retry_failed: bool = True,
           ray_address: str | None = None, trainer: pathlib.Path = runner.DEFAULT_TRAINER,
           stream: TextIO = sys.stdout) -> Outcome:
  """Runs the sweep to the end (or to a signal); prints one line per failed or diverged run
  and a last summary line."""
  settings = sweep.launch
  max_parallel = max_parallel or settings.max_parallel
  if max_parallel < 1:
    raise ValueError(f"--max_parallel={max_parallel} must be at least 1")
  groups = None
  if backend == "local" and settings.gpus_per_run > 0:
    groups = local.gpu_groups(settings.gpus_per_run)
    max_parallel = min(max_parallel, len(groups))
  sweep_dir = pathlib.Path(sweep_dir).resolve()
  planned = plan_checked(sweep, sweep_dir, backend=backend, stream=stream)
  runner_settings = dict(max_retries=settings.max_retries,
                         stale_seconds=settings.lease_stale_seconds,
                         heartbeat_seconds=settings.heartbeat_seconds, trainer=trainer)
  if backend == "local":
    executor = local.LocalExecutor(device_groups=groups, hosts_per_run=settings.hosts_per_run,
                                   devices_per_host=settings.devices_per_host,
                                   **runner_settings)
  else:
    from scaling import ray_backend  # pylint: disable=import-outside-toplevel
    executor = ray_backend.RayExecutor(
        address=ray_address, num_cpus=settings.num_cpus, num_gpus=settings.num_gpus,
        resources=dict(settings.resources), hosts_per_run=settings.hosts_per_run,
        tpu_topology=settings.tpu_topology, tpu_version=settings.tpu_version,
        **runner_settings)
  try:
    return _launch_on(executor, sweep, sweep_dir, planned, backend=backend,
                      max_parallel=max_parallel, retry_failed=retry_failed, stream=stream)
  finally:
    executor.close()


def _launch_on(executor: schedule.Executor, sweep: ml_collections.ConfigDict,
               sweep_dir: pathlib.Path, planned: list[runs.PlannedRun], *, backend: str,
               max_parallel: int, retry_failed: bool, stream: TextIO) -> Outcome:
  """The part of `launch` after the executor is made: the learning-rate search, if any, and
  the sweep's runs."""
  train = functools.partial(_train, sweep=sweep, executor=executor, backend=backend,
                            max_parallel=max_parallel, retry_failed=retry_failed, stream=stream)
  if lr_search.applies(sweep):
    resolved, warnings = lr_search.search(
        sweep, sweep_dir, lambda probes, directory: train(probes, directory)[0].finished)
    for warning in warnings:
      print(f"warning: {warning}", file=stream)
    if resolved is None:
      return Outcome(finished=False, failed=())
    planned = runs.plan(resolved, sweep_dir)
    preflight.check_runs(resolved, planned, backend)
    law = lr_search.read_law(sweep_dir)["law"]
    print(f"learning-rate search: LR*(N) = {law['coefficient']:.4g} x N^{law['n_exponent']:.3f} "
          f"(N non-embedding params); the sweep's runs train with it", file=stream, flush=True)
  outcome, states = train(planned, sweep_dir)
  print(summary_line(sweep.name, sweep_dir, states, outcome), file=stream, flush=True)
  return outcome


def _train(planned: list[runs.PlannedRun], sweep_dir: pathlib.Path, *,
           sweep: ml_collections.ConfigDict, executor: schedule.Executor, backend: str,
           max_parallel: int, retry_failed: bool, stream: TextIO
           ) -> tuple[Outcome, list[rundir.RunState]]:
  """Writes the run directories under `sweep_dir`, runs what is not finished, prints one line
  per failed or diverged run and rebuilds its results.csv."""
  settings = sweep.launch
  runs.materialize(planned, sweep_dir, sweep.name, settings.lease_stale_seconds,
                   runs.sweep_identity(sweep))
  to_run = []
  for run in planned:
    state = rundir.read_state(run.run_dir, settings.lease_stale_seconds).state
    if state in (SweepState.DONE, SweepState.DIVERGED) or (
        state == SweepState.FAILED and not retry_failed):
      continue
    to_run.append(run.run_dir)
  print(f"sweep {sweep.name}: {len(planned)} runs, {len(planned) - len(to_run)} already "
        f"finished, {len(to_run)} to run on the {backend} backend", file=stream, flush=True)
  if backend != "local":
    max_parallel = len(to_run) or 1
  progress = progress_lib.Progress(sweep_dir, [run.row() for run in planned],
                                   settings.lease_stale_seconds, stream=stream)
  finished = schedule.run_all(executor, to_run, max_parallel=max_parallel,
                              stale_seconds=settings.lease_stale_seconds, progress=progress,
                              ready=ladder.ready_check(planned, settings.lease_stale_seconds))
  ladder.release_branch_points(planned, settings.lease_stale_seconds)
  states = [rundir.read_state(run.run_dir, settings.lease_stale_seconds) for run in planned]
  run_ids = [run.run_id for run in planned]
  for line in tables.ending_lines(run_ids, states):
    print(line, file=stream)
  results_path = collect.write_results(sweep_dir)
  print(f"results: {results_path}", file=stream, flush=True)
  outcome = Outcome(finished=finished, failed=tuple(
      run_id for run_id, state in zip(run_ids, states) if state.state == SweepState.FAILED))
  return outcome, states


def summary_line(name: str, sweep_dir: pathlib.Path, states: list[rundir.RunState],
                 outcome: Outcome) -> str:
  """The last line of a launch: the count per final state, the failed runs and where to look."""
  counts = {state: sum(run.state == state for run in states) for state in tuple(SweepState)}
  line = f"sweep {name}: {', '.join(f'{count} {state}' for state, count in counts.items())}"
  if not outcome.finished:
    line += "; interrupted: run the same command again to resume"
  if outcome.failed:
    named = ", ".join(outcome.failed[:_NAMED_FAILURES])
    more = len(outcome.failed) - _NAMED_FAILURES
    line += (f"; failed: {named}{f' and {more} more' if more > 0 else ''}; see "
             f"`python -m scaling status --workdir={sweep_dir}`")
  return line
