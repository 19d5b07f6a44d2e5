"""Logical axis names of the model's parameters, and helpers that read them back.

Every parameter is declared with a tuple of logical names from `LOGICAL_AXES`; the mapping of
names to mesh axes is data (`config.logical_axis_rules` in configs/base.py) applied with
`nnx.logical_axis_rules(rules)`. Stacked block parameters get a leading 'layers' axis.

Parameters are sharded when created only while both a mesh (`jax.set_mesh`) and logical rules are
active; otherwise they are created unsharded and a jitted init with `out_shardings` from
`nnx.get_named_sharding` places them.
"""
from typing import Any

import jax
from flax import nnx
from flax.core import spmd as core_spmd

LOGICAL_AXES = (
    "batch", "length", "embed", "vocab", "mlp", "heads", "kv_heads", "head_dim", "layers")


def param_metadata(axes: tuple[str, ...]) -> dict[str, Any]:
  """Variable metadata declaring `axes` as a parameter's logical axis names.

  Raises ValueError for a name outside LOGICAL_AXES.
  """
  unknown = [axis for axis in axes if axis not in LOGICAL_AXES]
  if unknown:
    raise ValueError(f"logical axis names {unknown} are not in LOGICAL_AXES={LOGICAL_AXES}")
  sharding_context = (not jax.sharding.get_abstract_mesh().empty
                      and bool(core_spmd.get_logical_axis_rules()))
  return {"out_sharding": axes, "eager_sharding": sharding_context}


def _param_leaves(model: nnx.Module) -> list[tuple[str, nnx.Variable]]:
  state = nnx.state(model, nnx.Param)
  leaves = jax.tree.leaves_with_path(state, is_leaf=lambda x: isinstance(x, nnx.Variable))
  return [("/".join(str(getattr(key, "key", key)) for key in path), variable)
          for path, variable in leaves]


def logical_axes(model: nnx.Module) -> dict[str, tuple[str, ...]]:
  """Each parameter's logical axis names, keyed by its '/'-joined path in `nnx.state(model)`.

  Example: {'blocks/attention/query/kernel': ('layers', 'embed', 'heads', 'head_dim'), ...}.
  """
  return {path: tuple(variable.get_metadata()["out_sharding"])
          for path, variable in _param_leaves(model)}

