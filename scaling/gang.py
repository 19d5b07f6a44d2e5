"""The processes of one training attempt: one train.py, or a gang of `hosts_per_run` of them
that form one multi-process jax program.

A gang member gets JAX_COORDINATOR_ADDRESS (process 0's host and a free port),
JAX_NUM_PROCESSES and JAX_PROCESS_ID (train.py passes them to `jax.distributed.initialize`).
`LocalGang` starts every member on this machine: each sees `devices_per_host` devices (CPU:
XLA's forced host device count; GPU: its own slice of CUDA_VISIBLE_DEVICES). The gang ends when
its members have: its exit code is `gang_exit_code` of theirs. A member that crashes or is
killed fails the attempt, and the others are killed at once (standalone, they would stop by
themselves within train.py's peer timeout). Process 0 logs to RUNDIR/train.log, process i to
RUNDIR/train.process{i}.log.
"""
import os
import pathlib
import re
import signal
import socket
import subprocess
import time
from typing import Callable, Protocol, Sequence

from records import cli
from records import layout

_DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"
# Seconds the members of a gang may outlive the first one that ended: train.py's peer timeout
# (30 s) and a margin.
GRACE_SECONDS = 60.0
_VERDICTS = (cli.EXIT_OK, cli.EXIT_USAGE, cli.EXIT_DIVERGED, cli.EXIT_PREEMPTED)


def free_port(host: str = "127.0.0.1") -> int:
  """A TCP port that was free on `host` a moment ago (for a coordinator to bind)."""
  with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
    probe.bind((host, 0))
    return probe.getsockname()[1]


def member_environment(coordinator: str, num_processes: int, process_id: int) -> dict[str, str]:
  """The variables that make a train.py process member `process_id` of a gang."""
  return {"JAX_COORDINATOR_ADDRESS": coordinator, "JAX_NUM_PROCESSES": str(num_processes),
          "JAX_PROCESS_ID": str(process_id)}


def log_name(process_id: int) -> str:
  """The log file of gang member `process_id` in its run directory."""
  return layout.TRAIN_LOG if process_id == 0 else f"train.process{process_id}.log"


def gang_exit_code(codes: Sequence[int]) -> int:
  """One train.py exit code for a gang: completed when every member completed; else refused
  (EXIT_USAGE), diverged or preempted when a member says so (every member reaches the same
  verdict); else failed (a crash, a kill, a member lost)."""
  if all(code == cli.EXIT_OK for code in codes):
    return cli.EXIT_OK
  for verdict in (cli.EXIT_USAGE, cli.EXIT_DIVERGED, cli.EXIT_PREEMPTED):
    if verdict in codes:
      return verdict
  return cli.EXIT_FAILED


def _with_device_count(xla_flags: str, count: int) -> str:
  """XLA_FLAGS with the forced host (CPU) device count set to `count`."""
  kept = re.sub(rf"{_DEVICE_COUNT_FLAG}=\S*", "", xla_flags).split()
  return " ".join([*kept, f"{_DEVICE_COUNT_FLAG}={count}"])


def device_environment(base: dict[str, str], devices_per_host: int,
                       process_id: int) -> dict[str, str]:
  """The device variables of member `process_id`: `devices_per_host` CPU devices, and the
  member's own `devices_per_host` GPUs of the visible ones. 0 leaves `base` as it is."""
  if devices_per_host <= 0:
    return {}
  environment = {"XLA_FLAGS": _with_device_count(base.get("XLA_FLAGS", ""), devices_per_host)}
  visible = base.get("CUDA_VISIBLE_DEVICES")
  if visible:
    ids = [gpu for gpu in visible.split(",") if gpu.strip()]
    mine = ids[process_id * devices_per_host:(process_id + 1) * devices_per_host]
    if len(mine) < devices_per_host:
      raise ValueError(f"sweep.launch.devices_per_host={devices_per_host}: member {process_id} "
                       f"of the run has {len(mine)} of the {len(ids)} visible GPUs; give each "
                       f"run hosts_per_run x devices_per_host GPUs")
    environment["CUDA_VISIBLE_DEVICES"] = ",".join(mine)
  return environment


class Gang(Protocol):
  """The processes of one attempt, wherever they run (`LocalGang`, `ray_gang.RayGang`)."""
  pid: int | None  # process 0's, when it runs on this machine

  def wait(self, timeout: float) -> int | None:
    """The gang's exit code once every member ended; None after `timeout` seconds."""

  def terminate(self) -> None:
    """Asks every member to save and stop."""

  def kill(self) -> None:
    """Kills every member still running."""


def end_members(codes: Sequence[int | None], ended_at: float | None, grace_seconds: float,
                kill: Callable[[], None]) -> float | None:
  """Ends a gang whose members have started to end (`codes`: None for a running member):
  `kill()`s the rest at once when a member crashed or was killed (they cannot finish without
  it), or `grace_seconds` after the first member ended with a verdict every member reaches
  (completed, refused, diverged, preempted: the rest are finishing the same way). Returns when
  the first member ended (monotonic seconds), None while none has."""
  ended = [code for code in codes if code is not None]
  if not ended:
    return None
  now = time.monotonic()
  ended_at = ended_at or now
  if any(code not in _VERDICTS for code in ended) or now - ended_at > grace_seconds:
    kill()
  return ended_at


class LocalGang:
  """The members of one attempt, as processes on this machine (see the module docstring)."""

  def __init__(self, command: list[str], run_dir: pathlib.Path, *, cwd: pathlib.Path,
               hosts: int = 1, devices_per_host: int = 0,
               grace_seconds: float = GRACE_SECONDS,
               preexec_fn: Callable[[], None] | None = None):
    self.grace_seconds = grace_seconds
    self._ended_at: float | None = None
    base = dict(os.environ)
    coordinator = f"127.0.0.1:{free_port()}"
    self.processes: list[subprocess.Popen] = []
    for process_id in range(hosts):
      environment = dict(base)
      if hosts > 1:
        environment.update(member_environment(coordinator, hosts, process_id))
        environment.update(device_environment(base, devices_per_host, process_id))
      with open(pathlib.Path(run_dir) / log_name(process_id), "ab") as log_file:
        self.processes.append(subprocess.Popen(
            command, cwd=cwd, stdout=log_file,
            stderr=subprocess.STDOUT, env=environment, preexec_fn=preexec_fn))

  @property
  def pid(self) -> int:
    """Process 0's pid."""
    return self.processes[0].pid

  def wait(self, timeout: float) -> int | None:
    """The gang's exit code once every member ended; None after `timeout` seconds otherwise
    (see `end_members`)."""
    deadline = time.monotonic() + timeout
    while True:
      codes = [process.poll() for process in self.processes]
      if all(code is not None for code in codes):
        return gang_exit_code(codes)
      self._ended_at = end_members(codes, self._ended_at, self.grace_seconds, self.kill)
      now = time.monotonic()
      if now >= deadline:
        return None
      time.sleep(min(0.2, max(deadline - now, 0.0)))

  def terminate(self) -> None:
    """SIGTERM to every member still running (each saves and stops at the same step)."""
    self._signal(signal.SIGTERM)

  def kill(self) -> None:
    """SIGKILL to every member still running, then reaps them."""
    self._signal(signal.SIGKILL)
    for process in self.processes:
      process.wait()

  def _signal(self, signum: int) -> None:
    for process in self.processes:
      if process.poll() is None:
        try:
          process.send_signal(signum)
        except ProcessLookupError:
          pass
