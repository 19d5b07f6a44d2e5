"""A training worker: `python -m scaling.worker SPOOL --parent_pid=PID` trains, one after
another, the runs that runners hand it through the spool folder SPOOL (`scaling.spool`), in one
long-lived process, so a sweep's runs pay the process start, the imports and the tracing of
their programs (`training.programs`) once per worker rather than once per run.

Each request is one attempt, trained exactly as train.py trains it (`attempt.train_workdir` on
the run's config.json), with the process's output (stdout, stderr, the log) going to the run's
train.log for its duration; the reply is train.py's exit code for it. Isolation, as with one
train.py per attempt:
- a run that fails (an exception anywhere, its config unreadable) fails alone: its reply is
  nonzero, the error is in its train.log (and result.json), and the worker takes the next one;
- SIGTERM while a run trains makes it save a checkpoint and stop (reply 75, resumable), and the
  worker then ends; SIGTERM while idle ends it at once;
- a worker whose requesting runner dies mid-run ends at once (a train.py dies with its runner),
  and one whose parent (the launcher) dies is killed by Linux, so no run outlives its lease.
"""
import contextlib
import os
import pathlib
import signal
import sys
import threading
import time
import traceback
from typing import Iterator

from absl import flags
from absl import logging

from configs import resolved
from records import atomic
from records import cli
from records import layout
from scaling import runner, spool
from training import attempt, compilation, preemption

EXIT_ORPHANED = 70  # the worker's requesting runner died mid-run
_IDLE_SECONDS = 0.05
_WATCH_SECONDS = 0.5


@contextlib.contextmanager
def _output_to(log_path: pathlib.Path) -> Iterator[None]:
  """Sends this process's stdout and stderr (file descriptors 1 and 2, so jax's and XLA's
  output too) to the end of `log_path` while the block runs."""
  sys.stdout.flush()
  sys.stderr.flush()
  saved = (os.dup(1), os.dup(2))
  with open(log_path, "ab") as log:
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
  try:
    yield
  finally:
    sys.stdout.flush()
    sys.stderr.flush()
    for descriptor, original in zip((1, 2), saved):
      os.dup2(original, descriptor)
      os.close(original)


def _die_with_runner(runner_pid: int, done: threading.Event) -> None:
  """Ends the process at once if `runner_pid` dies before `done` is set."""
  while not done.wait(_WATCH_SECONDS):
    if not atomic.process_alive(runner_pid):
      os._exit(EXIT_ORPHANED)  # pylint: disable=protected-access


class Worker:
  """Serves the requests of one spool folder until SIGTERM (see the module docstring)."""

  def __init__(self, spool_dir: pathlib.Path):
    self.spool_dir = pathlib.Path(spool_dir)
    self.stopping = False
    self._run: preemption.Preemption | None = None

  def _on_sigterm(self, signum: int, frame) -> None:
    del frame
    logging.info("signal %d: the worker stops", signum)
    self.stopping = True
    if self._run is not None:  # a run that has not yet installed its own handler
      self._run.request()

  def serve(self) -> None:
    """Trains requests as they come, until SIGTERM."""
    signal.signal(signal.SIGTERM, self._on_sigterm)
    while not self.stopping:
      request = spool.take_request(self.spool_dir)
      if request is None:
        time.sleep(_IDLE_SECONDS)
        continue
      exit_code = self.train(request)
      spool.send_reply(self.spool_dir, request["id"], exit_code)
      if exit_code == cli.EXIT_PREEMPTED:
        self.stopping = True

  def train(self, request: dict) -> int:
    """Trains one attempt of the request's run; its train.py exit code."""
    run_dir = pathlib.Path(request["run_dir"])
    done = threading.Event()
    threading.Thread(target=_die_with_runner, args=(int(request["runner_pid"]), done),
                     daemon=True).start()
    self._run = preemption.Preemption()
    if self.stopping:
      self._run.request()
    try:
      with _output_to(run_dir / layout.TRAIN_LOG):
        return self._train_logged(run_dir)
    finally:
      self._run = None
      done.set()

  def _train_logged(self, run_dir: pathlib.Path) -> int:
    """The body of `train`, with the output in the run's log."""
    try:
      config = resolved.get_config(str(run_dir / layout.CONFIG_FILE))
    except (ValueError, OSError) as error:
      sys.stderr.write(f"error: --config: {cli.one_line(error)}\n")
      return cli.EXIT_USAGE
    config.lock()  # as train.py's config flag loads it
    try:
      return attempt.train_workdir(config, run_dir, preemption_request=self._run)
    except Exception:  # pylint: disable=broad-except
      sys.stderr.write(f"error: run failed in the worker:\n{traceback.format_exc()}")
      return cli.EXIT_FAILED


def main(argv: list[str]) -> int:
  if len(argv) != 2:
    raise cli.UsageError("usage: python -m scaling.worker SPOOL --parent_pid=PID")
  if flags.FLAGS.parent_pid:
    runner.die_with_parent(flags.FLAGS.parent_pid)
  logging.get_absl_handler().addFilter(attempt.quiet_libraries)
  compilation.enable(compilation.CACHE_DIR.value, min_compile_seconds=0.0)
  Worker(pathlib.Path(argv[1])).serve()
  return cli.EXIT_OK


if __name__ == "__main__":
  flags.DEFINE_integer("parent_pid", 0, "pid of the launcher; the worker dies with it")
  cli.run(main)
