"""Every preset builds, expands and validates for its own device count, without training."""
import importlib
import math
import re

import jax
import pytest
from flax import nnx

from model import ModelConfig, Transformer, sharding
from scaling import grid
from training import validate

SWEEP_PRESETS = ("tiny", "demo", "stdlib", "gpu_1x", "tpu_v5e_8", "tpu_v4_32")
ACCELERATOR_PRESETS = ("gpu_1x", "tpu_v5e_8", "tpu_v4_32")


def _sweep(name: str):
  return importlib.import_module(f"configs.sweeps.{name}").get_config()


def _device_count(mesh_config) -> int:
  sizes = [mesh_config.data, mesh_config.fsdp, mesh_config.tensor]
  return math.prod(size for size in sizes if size > 0) if -1 not in sizes else 8


def _mesh_ways(rules, logical_name: str, mesh_sizes: dict[str, int]) -> int:
  for name, mesh_axes in rules:
    if name == logical_name:
      if mesh_axes is None:
        return 1
      axes = (mesh_axes,) if isinstance(mesh_axes, str) else tuple(mesh_axes)
      return math.prod(mesh_sizes[axis] for axis in axes)
  return 1


def _check_parameters_split(config) -> None:
  """Each parameter dimension divides by the mesh axes its logical name maps to."""
  model_config = ModelConfig.from_config_dict(config.model)
  abstract = nnx.eval_shape(lambda: Transformer(model_config, rngs=nnx.Rngs(params=0)))
  device_count = _device_count(config.mesh)
  shape = validate.mesh_lib.mesh_shape(config.mesh, device_count)
  mesh_sizes = dict(zip(("data", "fsdp", "tensor"), shape))
  state = nnx.state(abstract, nnx.Param)
  shapes_by_path = {
      "/".join(str(getattr(key, "key", key)) for key in path): leaf.shape
      for path, leaf in jax.tree.leaves_with_path(
          state, is_leaf=lambda x: isinstance(x, nnx.Variable))}
  for path, axes in sharding.logical_axes(abstract).items():
    for size, name in zip(shapes_by_path[path], axes):
      ways = _mesh_ways(config.logical_axis_rules, name, mesh_sizes)
      assert size % ways == 0, (path, name, size, ways)


@pytest.mark.parametrize("name", SWEEP_PRESETS)
def test_sweep_preset_expands_and_validates(name):
  sweep = _sweep(name)
  runs = grid.expand(sweep)
  assert runs
  checked_shapes = set()
  for run in runs:
    config = grid.apply_overrides(sweep.base, run.overrides)
    validate.validate_config(config, device_count=_device_count(config.mesh))
    key = tuple(sorted(run.shape.model_fields.items()))
    if key not in checked_shapes:
      checked_shapes.add(key)
      _check_parameters_split(config)


@pytest.mark.parametrize("name", ACCELERATOR_PRESETS)
def test_accelerator_preset_documents_its_compute_and_hardware(name):
  sweep = _sweep(name)
  runs = grid.expand(sweep)
  docstring = importlib.import_module(f"configs.sweeps.{name}").__doc__
  written = float(re.search(r"Expected sweep compute: ([0-9.e+]+) FLOPs", docstring).group(1))
  total = sum(run.flops_6nd for run in runs)
  assert written == pytest.approx(total, rel=0.05)
  assert f"Batch: {sweep.base.train.batch_size} sequences" in docstring
  mesh = sweep.base.mesh
  assert f"data={mesh.data}, fsdp={mesh.fsdp}, tensor={mesh.tensor}" in docstring


@pytest.mark.parametrize("name", ACCELERATOR_PRESETS)
def test_accelerator_preset_sizes_follow_the_shape_rule(name):
  sweep = _sweep(name)
  rule = grid.shape_rule(sweep)
  sizes = set()
  for run in grid.expand(sweep):
    fields = run.shape.model_fields
    assert fields["d_model"] == fields["n_heads"] * rule.head_dim
    assert fields["d_ff"] % rule.ffn_multiple == 0
    sizes.add(run.shape.non_embedding_params)
  assert min(sizes) < 1e8 and max(sizes) > 1e7


def test_presets_together_span_10m_to_1b():
  sizes = [run.shape.non_embedding_params
           for name in ACCELERATOR_PRESETS for run in grid.expand(_sweep(name))]
  assert min(sizes) <= 1e7 and max(sizes) >= 9e8
