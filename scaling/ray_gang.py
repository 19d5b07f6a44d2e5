"""One attempt of a multi-host run on a Ray cluster: a placement group of one bundle per host,
on distinct nodes (STRICT_SPREAD), and one train.py task per bundle.

The runner of the run (scaling/runner.py, itself started by the Ray backend) is the driver:
it reserves the group, asks bundle 0's node for the coordinator address (its IP and a free
port), then starts member i on bundle i with JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and
JAX_PROCESS_ID (scaling/gang.py). On TPU VMs (`tpu_topology` and `tpu_version` set) a run of a
whole slice reserves it through `ray.util.tpu.SlicePlacementGroup` (one bundle per host of
the slice, each with the host's chips; Ray reserves the slice's head first, for up to 100 s);
a run of fewer hosts takes that many hosts' chips.
Members are never retried by Ray: a lost member (its worker or node died) fails the attempt,
the others are cancelled and the group is removed; the runner's retry reserves a new group and
every member resumes from the run's checkpoint. Process i logs to RUNDIR/gang.log_name(i).
"""
import os
import pathlib
import signal
import subprocess
import time
from typing import Any

import ray
from absl import logging
from ray.util.placement_group import placement_group, remove_placement_group
from ray.util import scheduling_strategies
from ray.util import tpu as ray_tpu

from records import cli
from scaling import gang as gang_lib
from scaling import runner


def _coordinator_address() -> str:
  """Host:port for process 0's coordinator, chosen on the node that runs process 0."""
  host = ray.util.get_node_ip_address()
  return f"{host}:{gang_lib.free_port(host)}"


def _member(command: list[str], run_dir: str, process_id: int,
            environment: dict[str, str]) -> int:
  """The task body of gang member `process_id`: train.py as a child that dies with this
  worker; returns its exit code (SIGTERM to it when the task is cancelled)."""
  worker_pid = os.getpid()
  with open(pathlib.Path(run_dir) / gang_lib.log_name(process_id), "ab") as log_file:
    process = subprocess.Popen(
        command, cwd=runner.PROJECT_ROOT, stdout=log_file, stderr=subprocess.STDOUT,
        env={**os.environ, **environment},
        preexec_fn=lambda: runner.die_with_parent(worker_pid))
  try:
    return process.wait()
  except KeyboardInterrupt:
    process.send_signal(signal.SIGTERM)
    return process.wait()


def tpu_hosts(topology: str, version: str) -> int:
  """Hosts of a TPU slice of `topology` (e.g. '2x2x4') and `version` (e.g. 'v4')."""
  return (ray_tpu.get_num_chips_from_topology(topology)
          // ray_tpu.get_chips_per_host(topology, version))


class RayGang:
  """The members of one attempt as Ray tasks (see the module docstring), a `gang.Gang`. Only
  a TPU slice's reservation blocks; `wait` advances the rest."""

  def __init__(self, command: list[str], run_dir: pathlib.Path, *, hosts: int,
               bundle: dict[str, float], tpu_topology: str = "", tpu_version: str = "",
               grace_seconds: float = gang_lib.GRACE_SECONDS):
    self._command, self._run_dir, self._hosts = command, str(run_dir), hosts
    self._bundle, self._grace_seconds = dict(bundle), grace_seconds
    self._slice = None
    if tpu_topology and hosts == tpu_hosts(tpu_topology, tpu_version):
      self._slice = ray_tpu.SlicePlacementGroup(tpu_topology, tpu_version,
                                                strategy="STRICT_SPREAD")
      self._group = self._slice.placement_group
      self._bundle = dict(self._slice.bundle_resources)
    else:
      if tpu_topology:
        chips_per_host = ray_tpu.get_chips_per_host(tpu_topology, tpu_version)
        self._bundle.setdefault("TPU", chips_per_host)
      self._group = placement_group([self._bundle] * hosts, strategy="STRICT_SPREAD")
    self._ready = self._group.ready()
    self._address: ray.ObjectRef | None = None
    self._members: list[ray.ObjectRef] = []
    self._codes: list[int | None] = [None] * hosts
    self._ended_at: float | None = None
    self._stopped = self._released = False
    self.pid = None  # no local trainer process

  def _options(self, bundle_index: int) -> dict[str, Any]:
    """Task options that place a task on bundle `bundle_index` with the bundle's resources."""
    resources = dict(self._bundle)
    return dict(num_cpus=resources.pop("CPU", 0), num_gpus=resources.pop("GPU", 0),
                resources=resources or None, max_retries=0, retry_exceptions=False,
                scheduling_strategy=scheduling_strategies.PlacementGroupSchedulingStrategy(
                    self._group, placement_group_bundle_index=bundle_index))

  def _advance(self) -> None:
    """Moves the reservation on: group ready -> coordinator address -> members started."""
    if self._members or self._stopped:
      return
    if self._address is None:
      if ray.wait([self._ready], timeout=0)[0]:
        self._address = ray.remote(_coordinator_address).options(**self._options(0)).remote()
      return
    if not ray.wait([self._address], timeout=0)[0]:
      return
    coordinator = ray.get(self._address)
    logging.info("gang of %d hosts, coordinator %s", self._hosts, coordinator)
    member = ray.remote(_member)
    self._members = [
        member.options(name=f"member{index}:{pathlib.Path(self._run_dir).name}",
                       **self._options(index)).remote(
            self._command, self._run_dir, index,
            gang_lib.member_environment(coordinator, self._hosts, index))
        for index in range(self._hosts)]

  def _poll(self) -> list[int | None]:
    """Members' exit codes (None: running; EXIT_FAILED: its task or worker was lost)."""
    for index, member in enumerate(self._members):
      if self._codes[index] is None and ray.wait([member], timeout=0)[0]:
        try:
          self._codes[index] = ray.get(member)
        except ray.exceptions.RayError as error:
          logging.warning("gang member %d lost: %s", index, cli.one_line(error))
          self._codes[index] = cli.EXIT_FAILED
    return list(self._codes)

  def wait(self, timeout: float) -> int | None:
    """The gang's exit code once every member ended; None after `timeout` seconds otherwise."""
    deadline = time.monotonic() + timeout
    while True:
      self._advance()
      if self._stopped and not self._members:
        self._release()
        return cli.EXIT_PREEMPTED
      codes = self._poll()
      if self._members and all(code is not None for code in codes):
        self._release()
        return gang_lib.gang_exit_code(codes)
      self._ended_at = gang_lib.end_members(codes, self._ended_at, self._grace_seconds,
                                            self.kill)
      if time.monotonic() >= deadline:
        return None
      time.sleep(0.2)

  def terminate(self) -> None:
    """Asks every member to save and stop (a cancelled task SIGTERMs its train.py)."""
    self._stopped = True
    for member in self._members:
      ray.cancel(member)

  def kill(self) -> None:
    """Kills every member still running (their workers) and releases the group."""
    for index, member in enumerate(self._members):
      if self._codes[index] is None:
        ray.cancel(member, force=True)
    for index, member in enumerate(self._members):
      if self._codes[index] is None:
        try:
          self._codes[index] = ray.get(member)
        except ray.exceptions.RayError:
          self._codes[index] = cli.EXIT_FAILED
    self._release()

  def _release(self) -> None:
    if self._released:
      return
    self._released = True
    if self._slice is not None:
      self._slice.shutdown()
    else:
      remove_placement_group(self._group)


def ray_gang(address: str, hosts: int, bundle: dict[str, float], tpu_topology: str = "",
             tpu_version: str = "") -> runner.StartGang:
  """`start_gang` for the runner: connects to the cluster at `address` once, then starts each
  attempt as a `RayGang` of `hosts` bundles of `bundle` resources (Ray names: CPU, GPU, ...)."""
  if not ray.is_initialized():
    ray.init(address=address, logging_level="WARNING")

  def start(command: list[str], run_dir: pathlib.Path) -> RayGang:
    return RayGang(command, run_dir, hosts=hosts, bundle=bundle, tpu_topology=tpu_topology,
                   tpu_version=tpu_version)
  return start
