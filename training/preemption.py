"""SIGTERM handling: a preempted run saves a checkpoint and exits with `EXIT_PREEMPTED`.

In a multi-process run the processes must stop at the same step (the checkpoint is written by
all of them together): jax's preemption notifier takes SIGTERM in every process, and jax's
preemption sync point tells all of them the same step to stop at, whichever got the signal.
"""
import contextlib
import signal
import threading
from typing import Iterator

import jax
from absl import logging
from jax.experimental import multihost_utils

from records import cli

EXIT_COMPLETED = cli.EXIT_OK
EXIT_FAILED = cli.EXIT_FAILED
EXIT_DIVERGED = cli.EXIT_DIVERGED
EXIT_PREEMPTED = cli.EXIT_PREEMPTED  # relaunching with the same workdir resumes


class Preemption:
  """Whether the run was asked to stop; the loop checks `should_stop` after every step."""

  def __init__(self):
    self._requested = threading.Event()

  def request(self) -> None:
    """Asks the run to checkpoint and stop after the current step."""
    self._requested.set()

  def should_stop(self, step: int) -> bool:
    """True once a stop was requested (`step`: optimizer steps done so far); in a multi-process
    run, at the step all processes agree on. Call it after every step."""
    if jax.process_count() > 1:
      return multihost_utils.reached_preemption_sync_point(step)
    return self._requested.is_set()

  @contextlib.contextmanager
  def on_sigterm(self) -> Iterator[None]:
    """Routes SIGTERM to `request` while the block runs (main thread only; in a multi-process
    run jax's preemption notifier keeps it)."""
    if (threading.current_thread() is not threading.main_thread()
        or jax.process_count() > 1):
      yield
      return

    def handler(signum, frame):
      del frame
      logging.warning("signal %d received: checkpointing and stopping", signum)
      self.request()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
      yield
    finally:
      signal.signal(signal.SIGTERM, previous)
