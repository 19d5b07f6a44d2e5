"""Runs one run of a sweep to its end: `python -m scaling.runner RUNDIR --parent_pid=PID`.

The runner takes the run's lease (or exits with EXIT_BUSY when a live process holds it), starts
`train.py` on the run directory, heartbeats the lease while it trains, and relaunches a crashed
trainer up to `--max_retries` times (it resumes from its checkpoint). A diverged run is never
retried, nor one whose trainer exited with EXIT_USAGE (a bad config or bad data: a retry would
fail the same way). Every failed attempt is appended to `RUNDIR/failures.jsonl` with its exit
code and reason; when the retries are spent, `result.json` records status 'failed' (unless
train.py wrote one). On SIGTERM / SIGINT the trainer is told to save and stop, and the runner
exits with EXIT_STOPPED, leaving the run resumable.

A run of `--hosts_per_run` processes (one multi-process jax program) is one gang of train.py
processes per attempt (scaling/gang.py): on this machine, or with `--ray_address` on the hosts
of a Ray placement group (scaling/ray_gang.py). The lease, the retries and the failure records
stay the run's: a member that dies fails the attempt, and the retry restarts every member,
which resume together from the run's last checkpoint.

With `--worker_spool=DIR --worker_pid=PID` the run's first attempt is handed to that training
worker (`scaling.worker`, through `scaling.spool`) instead of a new train.py process; the
heartbeat, the retries and the failure records are the same. A worker that is gone before the
attempt starts is not used; one that dies during it (no reply) fails the attempt like a crashed
train.py. Every retry runs in a fresh train.py process, as without a worker.

Orphans: on Linux the runner asks the kernel to SIGKILL it when its parent (the launcher or the
Ray task) dies, and the trainer likewise when the runner dies, so killing a launcher with SIGKILL
leaves no trainer behind; the leases they held become stale at once (dead pid on this host).
This module imports neither jax nor the model: it starts in a fraction of a second.
"""
import ctypes
import json
import os
import pathlib
import signal
import sys
import time
from typing import Callable

from absl import app
from absl import flags
from absl import logging

from records import atomic
from records import cli
from records import layout
from records import result as result_lib
from records import status as status_lib
from scaling import gang as gang_lib
from scaling import lease, rundir, spool

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_TRAINER = PROJECT_ROOT / "train.py"

# train.py exit codes (records.cli).
TRAIN_COMPLETED, TRAIN_FAILED, TRAIN_USAGE = cli.EXIT_OK, cli.EXIT_FAILED, cli.EXIT_USAGE
TRAIN_DIVERGED, TRAIN_PREEMPTED = cli.EXIT_DIVERGED, cli.EXIT_PREEMPTED
# Runner exit codes.
EXIT_FINISHED = 0   # the run is done, diverged, or failed for good: result.json says which
EXIT_BUSY = 4       # another live process holds the run's lease
EXIT_STOPPED = 75   # stopped by a signal; the run is resumable
_PR_SET_PDEATHSIG = 1
# `start_gang(train_command, run_dir)`: starts one attempt's train.py processes.
StartGang = Callable[[list[str], pathlib.Path], gang_lib.Gang]


def die_with_parent(expected_parent: int) -> None:
  """Asks Linux to SIGKILL this process when its parent dies; exits now if it already has."""
  if not sys.platform.startswith("linux"):
    return
  libc = ctypes.CDLL(None, use_errno=True)
  libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
  if os.getppid() != expected_parent:
    os._exit(EXIT_STOPPED)


def train_command(run_dir: pathlib.Path, trainer: pathlib.Path = DEFAULT_TRAINER) -> list[str]:
  """The trainer's command line for a run directory (absolute paths; cwd-independent)."""
  run_dir = pathlib.Path(run_dir).resolve()
  if ":" in str(run_dir):
    raise ValueError(f"run directory {run_dir} contains ':'; choose a --workdir without ':'")
  return [sys.executable, str(trainer),
          f"--config={PROJECT_ROOT / 'configs' / 'resolved.py'}:{run_dir / layout.CONFIG_FILE}",
          f"--workdir={run_dir}"]


def _log_tail(log_path: pathlib.Path, lines: int = 20) -> str:
  """The last non-empty line of a log (the error message, for a crash)."""
  try:
    with open(log_path, "rb") as log_file:
      log_file.seek(0, os.SEEK_END)
      log_file.seek(max(0, log_file.tell() - 4096))
      tail = log_file.read().decode(errors="replace").splitlines()[-lines:]
  except FileNotFoundError:
    return ""
  meaningful = [line.strip() for line in tail if line.strip()]
  return meaningful[-1] if meaningful else ""


class _Runner:
  """One run's attempts under one lease."""

  def __init__(self, run_dir: pathlib.Path, max_retries: int, stale_seconds: float,
               heartbeat_seconds: float, trainer: pathlib.Path, start_gang: StartGang,
               worker: tuple[pathlib.Path, int] | None):
    self.run_dir = pathlib.Path(run_dir).resolve()
    self.trainer_script = trainer
    self.max_retries = max_retries
    self.heartbeat_seconds = heartbeat_seconds
    self.lease = lease.Lease(self.run_dir, stale_seconds)
    self.stopping = False
    self.start_gang = start_gang
    self.worker = worker  # (spool, pid) of the worker for the next attempt, if any
    self.trainer: gang_lib.Gang | None = None

  def _on_signal(self, signum: int, frame) -> None:
    del frame
    self.stopping = True
    if self.trainer is not None:
      self.trainer.terminate()
    logging.info("signal %d: stopping %s", signum, self.run_dir.name)

  def _archive_failed_result(self, attempt: int) -> None:
    result = result_lib.read_result(self.run_dir)
    if result is not None and result.get(result_lib.Key.STATUS) == status_lib.RunStatus.FAILED:
      os.replace(self.run_dir / layout.RESULT_FILE,
                 self.run_dir / layout.failed_result_file(int(time.time()), attempt))

  def _train_once(self) -> int | None:
    """Runs train.py (every process of the run) to its exit; its exit code (one for the
    gang, `gang.gang_exit_code`), or None when the lease was lost."""
    worker, self.worker = self.worker, None
    if worker is not None and atomic.process_alive(worker[1]):
      self.trainer = spool.WorkerAttempt(*worker, self.run_dir)
    else:
      self.trainer = self.start_gang(train_command(self.run_dir, self.trainer_script),
                                     self.run_dir)
    self.lease.update(trainer_pid=self.trainer.pid)
    while True:
      exit_code = self.trainer.wait(timeout=self.heartbeat_seconds)
      if exit_code is not None:
        return exit_code
      if not self.lease.heartbeat():
        logging.error("lost the lease of %s; killing its trainer", self.run_dir.name)
        self.trainer.kill()
        return None

  def _record_failure(self, attempt: int, exit_code: int, reason: str) -> None:
    with open(self.run_dir / layout.FAILURES_FILE, "a") as failures:
      failures.write(json.dumps(dict(attempt=attempt, exit_code=exit_code, reason=reason,
                                     time=time.time())) + "\n")

  def _finish(self, status: status_lib.RunStatus, exit_code: int, reason: str) -> None:
    """Writes result.json when train.py did not (a crash, a kill, a missing result)."""
    if result_lib.read_result(self.run_dir) is not None:
      return
    result_lib.write_result(self.run_dir, dict(
        status=status, reason=reason, exit_code=exit_code,
        config=atomic.read_json(self.run_dir / layout.CONFIG_FILE),
        tokens=rundir.last_tokens(self.run_dir / layout.METRICS_FILE)))

  def run(self) -> int:
    """Trains the run to a final state; returns the runner exit code."""
    state = rundir.read_state(self.run_dir, self.lease.stale_seconds)
    if state.state in (status_lib.SweepState.DONE, status_lib.SweepState.DIVERGED):
      return EXIT_FINISHED
    if not self.lease.acquire():
      return EXIT_BUSY
    signal.signal(signal.SIGTERM, self._on_signal)
    signal.signal(signal.SIGINT, self._on_signal)
    try:
      return self._attempts()
    finally:
      self.lease.release()

  def _attempts(self) -> int:
    attempt = 0
    while not self.stopping:
      result = result_lib.read_result(self.run_dir)
      if result is not None and result.get(result_lib.Key.STATUS) in status_lib.FINISHED:
        return EXIT_FINISHED
      self._archive_failed_result(attempt)
      logging.info("%s: attempt %d", self.run_dir.name, attempt)
      exit_code = self._train_once()
      if exit_code is None:
        return EXIT_STOPPED
      result = result_lib.read_result(self.run_dir) or {}
      status = result.get(result_lib.Key.STATUS)
      if exit_code == TRAIN_COMPLETED and status == status_lib.RunStatus.COMPLETED:
        return EXIT_FINISHED
      if exit_code == TRAIN_DIVERGED or status == status_lib.RunStatus.DIVERGED:
        self._finish(status_lib.RunStatus.DIVERGED, exit_code,
                     f"non-finite loss (train.py exit code {TRAIN_DIVERGED})")
        return EXIT_FINISHED
      if self.stopping:
        return EXIT_STOPPED
      reason = (result.get(result_lib.Key.ERROR) or result.get(result_lib.Key.REASON) or _log_tail(
          self.run_dir / layout.TRAIN_LOG) or f"train.py exited with code {exit_code}")
      self._record_failure(attempt, exit_code, reason)
      logging.warning("%s: attempt %d failed (exit %d): %s", self.run_dir.name, attempt,
                      exit_code, reason)
      attempt += 1
      if exit_code == TRAIN_USAGE:
        self._finish(status_lib.RunStatus.FAILED, exit_code,
                     f"{reason} (bad config or data: not retried)")
        return EXIT_FINISHED
      if attempt > self.max_retries:
        self._finish(status_lib.RunStatus.FAILED, exit_code,
                     f"{reason} (after {attempt} attempts)")
        return EXIT_FINISHED
    return EXIT_STOPPED


def local_gang(hosts_per_run: int = 1, devices_per_host: int = 0) -> StartGang:
  """Starts each attempt's `hosts_per_run` train.py processes on this machine
  (`gang.LocalGang`); every one dies with the runner."""
  runner_pid = os.getpid()

  def start(command: list[str], run_dir: pathlib.Path) -> gang_lib.LocalGang:
    return gang_lib.LocalGang(command, run_dir, cwd=PROJECT_ROOT, hosts=hosts_per_run,
                              devices_per_host=devices_per_host,
                              preexec_fn=lambda: die_with_parent(runner_pid))
  return start


def run_one(run_dir: pathlib.Path, *, max_retries: int, stale_seconds: float,
            heartbeat_seconds: float, trainer: pathlib.Path = DEFAULT_TRAINER,
            start_gang: StartGang | None = None,
            worker: tuple[pathlib.Path, int] | None = None) -> int:
  """Trains one run directory to a final state in this process; returns a runner exit code.

  `trainer` is the training script, called as train.py is (see `train_command`);
  `start_gang(command, run_dir)` starts the processes of one attempt (default: one, here).
  A lost member fails the attempt, and a retry restarts every member. `worker` (its spool
  folder and pid) trains the first attempt instead, if it still runs.
  """
  return _Runner(run_dir, max_retries, stale_seconds, heartbeat_seconds,
                 pathlib.Path(trainer), start_gang or local_gang(), worker).run()


def _define_flags() -> None:
  """The runner's flags, defined only when it is the program (not in the launcher's flags)."""
  flags.DEFINE_integer("parent_pid", 0, "pid of the launcher; the runner dies with it")
  flags.DEFINE_integer("max_retries", 2, "relaunches of a crashed trainer")
  flags.DEFINE_float("stale_seconds", 60.0, "lease heartbeat timeout, seconds")
  flags.DEFINE_float("heartbeat_seconds", 5.0, "heartbeat period, seconds")
  flags.DEFINE_string("trainer", str(DEFAULT_TRAINER), "the training script")
  flags.DEFINE_integer("hosts_per_run", 1, "train.py processes that form the run")
  flags.DEFINE_integer("devices_per_host", 0, "devices each process sees (0: all)")
  flags.DEFINE_string("ray_address", "", "start the processes on the hosts of a Ray "
                      "placement group on this cluster (default: on this machine)")
  flags.DEFINE_string("host_resources", "{}", "ray: JSON resources of one host's bundle")
  flags.DEFINE_string("tpu_topology", "", "ray: the TPU slice's topology, e.g. 2x2x4")
  flags.DEFINE_string("tpu_version", "", "ray: the TPU generation, e.g. v4")
  flags.DEFINE_string("worker_spool", "", "hand the first attempt to the training worker "
                      "serving this spool folder (scaling.worker)")
  flags.DEFINE_integer("worker_pid", 0, "pid of the worker serving --worker_spool")


def main(argv: list[str]) -> int:
  if len(argv) != 2:
    raise app.UsageError("usage: python -m scaling.runner RUNDIR --parent_pid=PID")
  values = flags.FLAGS
  if values.parent_pid:
    die_with_parent(values.parent_pid)
  if values.ray_address:
    from scaling import ray_gang  # pylint: disable=import-outside-toplevel
    start_gang = ray_gang.ray_gang(values.ray_address, values.hosts_per_run,
                                   json.loads(values.host_resources), values.tpu_topology,
                                   values.tpu_version)
  else:
    start_gang = local_gang(values.hosts_per_run, values.devices_per_host)
  if bool(values.worker_spool) != bool(values.worker_pid):
    raise app.UsageError("--worker_spool and --worker_pid go together; give both or neither")
  worker = (pathlib.Path(values.worker_spool), values.worker_pid) if values.worker_pid else None
  return run_one(pathlib.Path(argv[1]), max_retries=values.max_retries,
                 stale_seconds=values.stale_seconds, heartbeat_seconds=values.heartbeat_seconds,
                 trainer=pathlib.Path(values.trainer), start_gang=start_gang, worker=worker)


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
