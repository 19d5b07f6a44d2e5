"""The local backend: each run in its own `scaling.runner` process on this machine.

Every runner is the leader of its own session (process group), so a signal to the launcher's
terminal does not reach the trainers directly, and stopping a run signals its whole group.
The runner dies with the launcher (Linux parent-death signal; see `scaling.runner`). With
`gpus_per_run = 0` every run sees all local devices and `--max_parallel` runs share them; with
`gpus_per_run = k` the visible GPUs are split into disjoint groups of k and each run gets one
group through CUDA_VISIBLE_DEVICES (at most one run per group at a time). With the default
trainer, one process per run and no GPU groups, each runner hands its first attempt to a
training worker (`scaling.worker`, one per run running at a time, started when first needed and
reused by the next runs; ended by `close`), so a run does not pay the process start, imports and
tracing again. A run goes to the idle worker that already holds its programs, and the launcher
starts such runs first (`LocalExecutor.affinity`). With
`hosts_per_run = k > 1` every run is k train.py processes on this machine that form one
multi-process jax program, each seeing `devices_per_host` devices (its own GPUs of the run's
group; or that many CPU devices): how to check a multi-host preset before paying for a slice.
"""
import collections
import dataclasses
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile

from records import atomic
from records import layout
from scaling import runner
from scaling import spool as spool_lib
from training import programs

CLOSE_SECONDS = 30.0  # a worker's time to end after SIGTERM before it is killed


@dataclasses.dataclass
class _Worker:
  """A training worker process, its spool folder, the pid of the runner it serves, and the
  program keys (`program_key`) of the runs it was handed, the latest last (as many as its
  program caches keep)."""
  process: subprocess.Popen
  spool: pathlib.Path
  runner_pid: int | None = None
  trained: collections.deque = dataclasses.field(
      default_factory=lambda: collections.deque(maxlen=programs.MAX_PROGRAMS))


def program_key(run_dir: pathlib.Path) -> str:
  """What decides the programs a run trains with, from its config.json (`training.programs`)."""
  config = atomic.read_json(pathlib.Path(run_dir) / layout.CONFIG_FILE) or {}
  return json.dumps(programs.program_fields(config), sort_keys=True, default=str)


def gpu_groups(gpus_per_run: int, visible: str | None = None) -> list[str]:
  """Disjoint comma-separated groups of `gpus_per_run` GPU ids for CUDA_VISIBLE_DEVICES.

  The GPUs are `visible` (a CUDA_VISIBLE_DEVICES value), else $CUDA_VISIBLE_DEVICES, else the
  indices `nvidia-smi` lists; GPUs left over after the last full group are not used.
  """
  if visible is None:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
  if visible is None:
    try:
      visible = ",".join(subprocess.run(
          ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True,
          text=True, check=True).stdout.split())
    except (OSError, subprocess.CalledProcessError):
      visible = ""
  ids = [gpu for gpu in visible.split(",") if gpu.strip()]
  if len(ids) < gpus_per_run:
    raise ValueError(
        f"sweep.launch.gpus_per_run={gpus_per_run} but {len(ids)} GPUs are visible; lower it "
        f"or set it to 0 (every run sees all devices)")
  return [",".join(ids[start:start + gpus_per_run])
          for start in range(0, len(ids) - gpus_per_run + 1, gpus_per_run)]


def _remember(worker: _Worker, key: str) -> None:
  """Records that `worker` is handed a run of program key `key` (the most recent last)."""
  if key in worker.trained:
    worker.trained.remove(key)
  worker.trained.append(key)


class LocalExecutor:
  """Starts `python -m scaling.runner RUNDIR` processes; logs go to RUNDIR/runner.log. Call
  `close` at the end (it ends the training workers)."""

  def __init__(self, *, max_retries: int, stale_seconds: float, heartbeat_seconds: float,
               trainer: pathlib.Path = runner.DEFAULT_TRAINER,
               device_groups: list[str] | None = None, hosts_per_run: int = 1,
               devices_per_host: int = 0):
    self.arguments = [f"--max_retries={max_retries}", f"--stale_seconds={stale_seconds}",
                      f"--heartbeat_seconds={heartbeat_seconds}", f"--trainer={trainer}",
                      f"--hosts_per_run={hosts_per_run}", f"--devices_per_host={devices_per_host}"]
    self.free_groups = list(device_groups or [])
    self.uses_groups = bool(device_groups)
    self.group_of: dict[int, str] = {}
    self.uses_workers = (pathlib.Path(trainer) == runner.DEFAULT_TRAINER
                         and hosts_per_run == 1 and not device_groups)
    self.workers: list[_Worker] = []
    self.program_keys: dict[pathlib.Path, str] = {}

  def start(self, run_dir: pathlib.Path) -> subprocess.Popen:
    """Starts the runner of `run_dir` in a new session (on a free GPU group, if any)."""
    environment = dict(os.environ)
    if self.uses_groups:
      group = self.free_groups.pop(0)
      environment["CUDA_VISIBLE_DEVICES"] = group
    worker = self._idle_worker(self._program_key(run_dir)) if self.uses_workers else None
    worker_arguments = ([f"--worker_spool={worker.spool}", f"--worker_pid={worker.process.pid}"]
                        if worker else [])
    with open(pathlib.Path(run_dir) / layout.RUNNER_LOG, "ab") as log_file:
      process = subprocess.Popen(
          [sys.executable, "-m", "scaling.runner", str(pathlib.Path(run_dir).resolve()),
           f"--parent_pid={os.getpid()}", *self.arguments, *worker_arguments],
          cwd=runner.PROJECT_ROOT, stdout=log_file, stderr=subprocess.STDOUT,
          start_new_session=True, env=environment)
    if self.uses_groups:
      self.group_of[process.pid] = group
    if worker:
      worker.runner_pid = process.pid
    return process

  def affinity(self, run_dir: pathlib.Path) -> int:
    """How much starting `run_dir` now saves: 2 when an idle worker was handed a run of its
    programs (it need not trace them again), 0 when only a busy one was (the run had better
    wait for it), 1 otherwise (a program no worker holds: starting it now spreads the shapes
    over the workers). Without workers, 0 for every run."""
    if not self.uses_workers:
      return 0
    key = self._program_key(run_dir)
    holders = [worker for worker in self.workers
               if key in worker.trained and worker.process.poll() is None]
    if any(worker.runner_pid is None for worker in holders):
      return 2
    return 0 if holders else 1

  def _program_key(self, run_dir: pathlib.Path) -> str:
    run_dir = pathlib.Path(run_dir)
    if run_dir not in self.program_keys:
      self.program_keys[run_dir] = program_key(run_dir)
    return self.program_keys[run_dir]

  def _idle_worker(self, key: str) -> _Worker:
    """A live worker that serves no runner, one that was handed a run of program key `key` if
    there is one; a new one when none is idle. Ended workers are forgotten (their spool folders
    removed). The worker's record of keys gets `key`."""
    for worker in list(self.workers):
      if worker.process.poll() is not None:
        self.workers.remove(worker)
        shutil.rmtree(worker.spool, ignore_errors=True)
    idle = [worker for worker in self.workers if worker.runner_pid is None]
    if idle:
      worker = next((worker for worker in idle if key in worker.trained), idle[0])
      _remember(worker, key)
      return worker
    spool = pathlib.Path(tempfile.mkdtemp(prefix="scaling-worker-"))
    with open(spool / spool_lib.WORKER_LOG, "ab") as log_file:
      process = subprocess.Popen(
          [sys.executable, "-m", "scaling.worker", str(spool), f"--parent_pid={os.getpid()}"],
          cwd=runner.PROJECT_ROOT, stdout=log_file, stderr=subprocess.STDOUT,
          start_new_session=True)
    self.workers.append(_Worker(process, spool))
    _remember(self.workers[-1], key)
    return self.workers[-1]

  def poll(self, handle: subprocess.Popen) -> int | None:
    """The runner's exit code, or None while it runs; an ended runner frees its GPU group."""
    exit_code = handle.poll()
    if exit_code is not None and handle.pid in self.group_of:
      self.free_groups.append(self.group_of.pop(handle.pid))
    for worker in self.workers:
      worker.process.poll()  # reaps an ended worker, so its runner sees it gone
      if exit_code is not None and worker.runner_pid == handle.pid:
        worker.runner_pid = None
    return exit_code

  def stop(self, handle: subprocess.Popen) -> None:
    """SIGTERM to the runner's process group (runner and trainer)."""
    try:
      os.killpg(handle.pid, signal.SIGTERM)
    except ProcessLookupError:
      pass

  def close(self) -> None:
    """Ends the training workers (SIGTERM; SIGKILL after CLOSE_SECONDS) and removes their
    spool folders."""
    for worker in self.workers:
      if worker.process.poll() is None:
        worker.process.terminate()
    for worker in self.workers:
      try:
        worker.process.wait(timeout=CLOSE_SECONDS)
      except subprocess.TimeoutExpired:
        worker.process.kill()
        worker.process.wait()
      shutil.rmtree(worker.spool, ignore_errors=True)
    self.workers = []
