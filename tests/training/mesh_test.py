"""Tests for training/mesh.py (8 fake CPU devices from conftest)."""
import jax
import ml_collections
import pytest
from jax.sharding import AxisType

from training import mesh


def _mesh_config(data, fsdp, tensor):
  return ml_collections.ConfigDict(dict(data=data, fsdp=fsdp, tensor=tensor))


def test_minus_one_takes_the_remaining_devices():
  assert mesh.mesh_shape(_mesh_config(-1, 2, 1), 8) == (4, 2, 1)
  assert mesh.mesh_shape(_mesh_config(2, 2, 2), 8) == (2, 2, 2)


@pytest.mark.parametrize("sizes, message", [
    ((2, 2, 1), r"data x fsdp x tensor = 4 but there are 8 devices"),
    ((-1, 3, 1), r"fixed axes \(3 devices\) do not divide the 8"),
    ((-1, -1, 1), r"only one axis may be -1"),
    ((0, 1, 1), r"config.mesh.data=0 must be a positive size"),
])
def test_bad_mesh_errors(sizes, message):
  with pytest.raises(ValueError, match=message):
    mesh.mesh_shape(_mesh_config(*sizes), 8)


def test_make_mesh_is_auto_and_batch_sharding_spans_data_and_fsdp():
  device_mesh = mesh.make_mesh(_mesh_config(2, 2, -1))
  assert dict(device_mesh.shape) == {"data": 2, "fsdp": 2, "tensor": 2}
  assert all(kind == AxisType.Auto for kind in device_mesh.axis_types)
  assert mesh.data_parallel_size(device_mesh) == 4
  batch = jax.device_put(jax.numpy.zeros((8, 3)), mesh.batch_sharding(device_mesh))
  assert len({shard.index[0].start for shard in batch.addressable_shards}) == 4


def test_make_mesh_on_a_subset_of_devices():
  one = mesh.make_mesh(_mesh_config(1, 1, 1), jax.devices()[:1])
  assert one.devices.size == 1


def test_single_process_does_not_initialize_distributed(monkeypatch):
  for name in ("JAX_COORDINATOR_ADDRESS", "SLURM_JOB_ID", "OMPI_COMM_WORLD_SIZE",
               "TPU_WORKER_HOSTNAMES"):
    monkeypatch.delenv(name, raising=False)
  assert not mesh.maybe_initialize_distributed()
  monkeypatch.setenv("SLURM_JOB_ID", "7")
  monkeypatch.setenv("SLURM_NTASKS", "1")
  assert not mesh.maybe_initialize_distributed()
