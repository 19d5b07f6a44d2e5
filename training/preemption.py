"""SIGTERM handling: a preempted run saves a checkpoint and exits with `EXIT_PREEMPTED`."""
import contextlib
import signal
import threading
from typing import Iterator

from absl import logging

EXIT_COMPLETED = 0
EXIT_FAILED = 1
EXIT_DIVERGED = 3
EXIT_PREEMPTED = 75  # EX_TEMPFAIL: relaunching with the same workdir resumes


class Preemption:
  """Whether the run was asked to stop; the loop checks `should_stop` after every step."""

  def __init__(self):
    self._requested = threading.Event()

  def request(self) -> None:
    """Asks the run to checkpoint and stop after the current step."""
    self._requested.set()

  def should_stop(self, step: int) -> bool:
    """True once a stop was requested (`step`: optimizer steps done so far)."""
    del step
    return self._requested.is_set()

  @contextlib.contextmanager
  def on_sigterm(self) -> Iterator[None]:
    """Routes SIGTERM to `request` while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
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
