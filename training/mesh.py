"""The device mesh (data, fsdp, tensor) of a run, and multi-host start-up."""
import math
import os
from typing import Sequence

import jax
import ml_collections
from absl import logging
from jax.sharding import AxisType, NamedSharding, PartitionSpec

MESH_AXES = ("data", "fsdp", "tensor")
BATCH_AXES = ("data", "fsdp")  # the batch dimension is split over both
_CLUSTER_ENV = ("JAX_COORDINATOR_ADDRESS", "SLURM_JOB_ID", "OMPI_COMM_WORLD_SIZE",
                "TPU_WORKER_HOSTNAMES")
# A process of a multi-process job is declared dead when its heartbeats stop for this long; the
# survivors then abort instead of waiting on it in a collective (seconds).
PEER_TIMEOUT_SECONDS = 30


def maybe_initialize_distributed(peer_timeout_seconds: int = PEER_TIMEOUT_SECONDS) -> bool:
  """Calls `jax.distributed.initialize()` when the environment describes a multi-host job.

  Must run before any other jax call. Returns whether it initialized. Single-process runs (no
  coordinator address, no cluster scheduler variables) skip it. An explicit job is
  `JAX_COORDINATOR_ADDRESS` (host:port of process 0), `JAX_NUM_PROCESSES` and
  `JAX_PROCESS_ID`; TPU pod slices, Slurm and Open MPI are detected by jax. CPU devices of
  different processes talk through gloo. A peer silent for `peer_timeout_seconds` (or one
  that ends while the others still run) stops every process within about that time.
  """
  if not any(os.environ.get(name) for name in _CLUSTER_ENV):
    return False
  if os.environ.get("SLURM_JOB_ID") and int(os.environ.get("SLURM_NTASKS", "1")) <= 1:
    return False
  explicit = {}
  if os.environ.get("JAX_NUM_PROCESSES"):
    explicit = dict(num_processes=int(os.environ["JAX_NUM_PROCESSES"]),
                    process_id=int(os.environ.get("JAX_PROCESS_ID", "0")))
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(heartbeat_timeout_seconds=peer_timeout_seconds,
                             shutdown_timeout_seconds=peer_timeout_seconds, **explicit)
  logging.info("jax.distributed initialized: process %d of %d", jax.process_index(),
               jax.process_count())
  return True


def mesh_shape(mesh_config: ml_collections.ConfigDict, device_count: int) -> tuple[int, ...]:
  """Sizes of (data, fsdp, tensor); one size of -1 takes the devices the others leave."""
  sizes = [int(mesh_config[axis]) for axis in MESH_AXES]
  for axis, size in zip(MESH_AXES, sizes):
    if size == 0 or size < -1:
      raise ValueError(f"config.mesh.{axis}={size} must be a positive size or -1 (the rest)")
  fill = [axis for axis, size in zip(MESH_AXES, sizes) if size == -1]
  if len(fill) > 1:
    raise ValueError(f"config.mesh: only one axis may be -1, got {', '.join(fill)}")
  known = math.prod(size for size in sizes if size != -1)
  if fill:
    if device_count % known:
      raise ValueError(
          f"config.mesh: the fixed axes ({known} devices) do not divide the {device_count} "
          f"devices; change config.mesh so the product divides {device_count}")
    sizes[MESH_AXES.index(fill[0])] = device_count // known
  elif known != device_count:
    raise ValueError(
        f"config.mesh: data x fsdp x tensor = {known} but there are {device_count} devices; "
        f"make the product {device_count} or set one axis to -1")
  return tuple(sizes)


def make_mesh(mesh_config: ml_collections.ConfigDict,
              devices: Sequence[jax.Device] | None = None) -> jax.sharding.Mesh:
  """A mesh with Auto axis types (so logical-rule sharding drives GSPMD) over `devices`
  (default: all devices of all processes)."""
  devices = jax.devices() if devices is None else list(devices)
  shape = mesh_shape(mesh_config, len(devices))
  return jax.make_mesh(shape, MESH_AXES, axis_types=(AxisType.Auto,) * len(MESH_AXES),
                       devices=devices)


def data_parallel_size(mesh: jax.sharding.Mesh) -> int:
  """How many ways the batch dimension is split (data x fsdp)."""
  return math.prod(mesh.shape[axis] for axis in BATCH_AXES)


def batch_sharding(mesh: jax.sharding.Mesh, stacked: bool = False) -> NamedSharding:
  """Sharding of a [batch, ...] array: batch over data x fsdp, other dimensions replicated;
  `stacked`: of a [K, batch, ...] stack of such arrays (K replicated)."""
  return NamedSharding(mesh, PartitionSpec(None, BATCH_AXES) if stacked
                       else PartitionSpec(BATCH_AXES))
