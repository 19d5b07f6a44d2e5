"""The local backend: each run in its own `scaling.runner` process on this machine.

Every runner is the leader of its own session (process group), so a signal to the launcher's
terminal does not reach the trainers directly, and stopping a run signals its whole group.
The runner dies with the launcher (Linux parent-death signal; see `scaling.runner`). All runs
see all local devices; `--max_parallel` runs share them.
"""
import os
import pathlib
import signal
import subprocess
import sys

from scaling import rundir, runner


class LocalExecutor:
  """Starts `python -m scaling.runner RUNDIR` processes; logs go to RUNDIR/runner.log."""

  def __init__(self, *, max_retries: int, stale_seconds: float, heartbeat_seconds: float,
               trainer: pathlib.Path = runner.DEFAULT_TRAINER):
    self.arguments = [f"--max_retries={max_retries}", f"--stale_seconds={stale_seconds}",
                      f"--heartbeat_seconds={heartbeat_seconds}", f"--trainer={trainer}"]

  def start(self, run_dir: pathlib.Path) -> subprocess.Popen:
    """Starts the runner of `run_dir` in a new session."""
    with open(pathlib.Path(run_dir) / rundir.RUNNER_LOG, "ab") as log_file:
      return subprocess.Popen(
          [sys.executable, "-m", "scaling.runner", str(pathlib.Path(run_dir).resolve()),
           f"--parent_pid={os.getpid()}", *self.arguments],
          cwd=runner.PROJECT_ROOT, stdout=log_file, stderr=subprocess.STDOUT,
          start_new_session=True)

  def poll(self, handle: subprocess.Popen) -> int | None:
    """The runner's exit code, or None while it runs."""
    return handle.poll()

  def stop(self, handle: subprocess.Popen) -> None:
    """SIGTERM to the runner's process group (runner and trainer)."""
    try:
      os.killpg(handle.pid, signal.SIGTERM)
    except ProcessLookupError:
      pass
