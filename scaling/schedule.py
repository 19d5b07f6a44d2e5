"""The launcher's loop, shared by the backends: start runs, reap them, wait on foreign leases.

A backend is an `Executor`: it starts a run (a `scaling.runner` process somewhere) and reports
the runner's exit code when it ends. The loop keeps at most `max_parallel` runs started, treats a
run whose lease another launcher holds as 'elsewhere' (watched until it finishes or its lease
goes stale, then started here), and requeues a run whose runner was stopped while the sweep goes
on. On SIGTERM / SIGINT it stops its runs (each saves a checkpoint) and returns.
"""
import pathlib
import signal
import time
from typing import Any, Callable, Protocol

from absl import logging

from records import layout
from records.status import SweepState
from scaling import progress as progress_lib
from scaling import rundir, runner

LOOKAHEAD = 64  # queued runs `_next_index` compares


class Executor(Protocol):
  """Starts runner processes for run directories and reports how they ended."""

  def start(self, run_dir: pathlib.Path) -> Any:
    """Starts a runner for `run_dir`; returns a handle."""

  def poll(self, handle: Any) -> int | None:
    """The runner's exit code (`scaling.runner.EXIT_*`), or None while it runs."""

  def stop(self, handle: Any) -> None:
    """Asks the runner to save and stop (it exits with EXIT_STOPPED)."""

  def close(self) -> None:
    """Ends what the executor keeps between runs (the launcher calls it once, at the end)."""

  # Optional: `affinity(run_dir) -> int`, how much starting `run_dir` now saves (higher first);
  # the loop starts the queued run of highest affinity, the first of equals.


def _next_index(executor: Executor, queue: list[pathlib.Path]) -> int:
  """Which queued run to start next: of the first `LOOKAHEAD`, the first with the highest
  `executor.affinity` where the executor has one (training workers that hold a run's programs
  need not trace them again), else the first. Runs are independent, so the order changes only
  the wall time."""
  affinity = getattr(executor, "affinity", None)
  if affinity is None:
    return 0
  scores = [affinity(run_dir) for run_dir in queue[:LOOKAHEAD]]
  return scores.index(max(scores))


def run_all(executor: Executor, run_dirs: list[pathlib.Path], *, max_parallel: int,
            stale_seconds: float, progress: progress_lib.Progress | None = None,
            poll_seconds: float = 0.5, max_requeues: int = 3,
            ready: Callable[[pathlib.Path], bool] = lambda run_dir: True) -> bool:
  """Runs every run directory to a final state; False when interrupted by a signal.

  A queued run starts only once `ready(run_dir)` (a branch: once its trunk has saved the
  checkpoint it starts from); runs queued behind it may start first. When nothing runs any more
  and only runs that are not ready are left, they start anyway, so that each ends with its own
  reason instead of waiting forever.

  Runs that had failed before this call are retried; a run that another launcher finishes
  (even as failed) while it waits in the queue is left alone. A runner that exits abnormally
  (killed, lease lost) is requeued up to `max_requeues` times.
  """
  queue = list(run_dirs)
  failed_at_start = {run_dir for run_dir in run_dirs
                     if rundir.read_state(run_dir, stale_seconds).state == SweepState.FAILED}
  requeues = {run_dir: 0 for run_dir in run_dirs}
  active: dict[pathlib.Path, Any] = {}
  elsewhere: set[pathlib.Path] = set()
  stopping = []
  stuck = False  # every queued run waits on one that will not run in this call

  def on_signal(signum: int, frame) -> None:
    del frame
    logging.warning("signal %d: stopping %d running runs (they save checkpoints)", signum,
                    len(active))
    stopping.append(signum)
    for handle in active.values():
      executor.stop(handle)

  previous = {signum: signal.signal(signum, on_signal)
              for signum in (signal.SIGTERM, signal.SIGINT)}
  try:
    while (queue or active or elsewhere) and not (stopping and not active):
      waiting = []
      while queue and len(active) < max_parallel and not stopping:
        run_dir = queue.pop(_next_index(executor, queue))
        state = rundir.read_state(run_dir, stale_seconds).state
        if rundir.is_final(state) and not (state == SweepState.FAILED
                                           and run_dir in failed_at_start):
          continue
        if not (stuck or ready(run_dir)):
          waiting.append(run_dir)
          continue
        if state == SweepState.RUNNING:
          elsewhere.add(run_dir)
          continue
        active[run_dir] = executor.start(run_dir)
      queue[:0] = waiting
      stuck = bool(waiting) and not active and not elsewhere
      if stuck:
        logging.warning("%d runs wait on runs that will not run again here; starting them",
                        len(waiting))
      for run_dir, handle in list(active.items()):
        exit_code = executor.poll(handle)
        if exit_code is None:
          continue
        del active[run_dir]
        if exit_code == runner.EXIT_BUSY:
          elsewhere.add(run_dir)
        elif exit_code != runner.EXIT_FINISHED and not stopping:
          requeues[run_dir] += 1
          if requeues[run_dir] > max_requeues:
            logging.error("%s: runner exited with %d %d times; giving up (see %s)",
                          run_dir.name, exit_code, requeues[run_dir], layout.RUNNER_LOG)
          else:
            logging.warning("%s: runner exited with %d; requeued", run_dir.name, exit_code)
            queue.append(run_dir)
      for run_dir in list(elsewhere):
        state = rundir.read_state(run_dir, stale_seconds).state
        if rundir.is_final(state):
          elsewhere.discard(run_dir)
        elif state == SweepState.PENDING:
          elsewhere.discard(run_dir)
          queue.append(run_dir)
      if progress is not None:
        progress.report()
      time.sleep(poll_seconds)
  finally:
    for signum, handler in previous.items():
      signal.signal(signum, handler)
  if progress is not None:
    progress.report(force=True)
  return not stopping
