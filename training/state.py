"""Sharded initialization of a run's parameters and optimizer state.

Parameters are created inside `jax.jit` with output shardings taken from their logical axis
names (the rules in `config.logical_axis_rules`, active as a `nnx.logical_axis_rules` context),
so no device ever holds a full unsharded copy. The optimizer state gets the shardings of the
parameters it mirrors (AdamW moments) and replicated scalars (step counts).
"""
import dataclasses
import math
from typing import Any, Callable

import jax
import optax
from flax import nnx


@dataclasses.dataclass(frozen=True)
class ShardedInit:
  """A model split for a functional train step, with its shardings."""
  graphdef: nnx.GraphDef
  params: nnx.State           # trainable parameters (nnx.Param), sharded
  rest: nnx.State             # any non-parameter state of the model (constants)
  params_sharding: Any        # pytree of NamedSharding matching `params`


@dataclasses.dataclass(frozen=True)
class InitProgram:
  """The jitted initialization of one model shape and its optimizer on one mesh. Calling it
  with a seed gives a run's parameters and optimizer state at step 0; the seed is an argument,
  so runs of other seeds reuse the same compiled programs (`training.programs`)."""
  graphdef: nnx.GraphDef
  params_sharding: Any        # pytree of NamedSharding matching the parameters
  opt_sharding: Any           # pytree of NamedSharding matching the optimizer state
  tx: optax.GradientTransformation
  init_params: Callable[[jax.Array], tuple[nnx.State, nnx.State]]  # jitted: key -> params, rest
  init_opt: Callable[[nnx.State], optax.OptState]                   # jitted: params -> state

  def __call__(self, seed: int) -> tuple[ShardedInit, optax.OptState]:
    params, rest = self.init_params(jax.random.key(seed))
    return ShardedInit(self.graphdef, params, rest, self.params_sharding), self.init_opt(params)


def make_init_program(build_model: Callable[[nnx.Rngs], nnx.Module],
                      make_tx: Callable[[nnx.State], optax.GradientTransformation],
                      mesh: jax.sharding.Mesh) -> InitProgram:
  """The sharded initialization of `build_model(rngs)` and of the optimizer `make_tx(params)`
  (given abstract parameters) on `mesh`; call inside the logical-rules context."""
  graphdef, abstract_params, abstract_rest = nnx.split(
      nnx.eval_shape(lambda: build_model(nnx.Rngs(params=0))), nnx.Param, ...)
  params_sharding = nnx.get_named_sharding(abstract_params, mesh)
  check_divisible(abstract_params, params_sharding)
  rest_sharding = nnx.get_named_sharding(abstract_rest, mesh)

  def init(key: jax.Array) -> tuple[nnx.State, nnx.State]:
    _, params, rest = nnx.split(build_model(nnx.Rngs(params=key)), nnx.Param, ...)
    return params, rest

  tx = make_tx(abstract_params)
  opt_sharding = nnx.get_named_sharding(jax.eval_shape(tx.init, abstract_params), mesh)
  return InitProgram(graphdef, params_sharding, opt_sharding, tx,
                     jax.jit(init, out_shardings=(params_sharding, rest_sharding)),
                     jax.jit(tx.init, out_shardings=opt_sharding))


def check_divisible(abstract_params: nnx.State, params_sharding: Any) -> None:
  """Every sharded parameter dimension must split evenly over its mesh axes (ValueError)."""
  is_variable = lambda x: isinstance(x, nnx.Variable)
  variables = jax.tree.leaves_with_path(abstract_params, is_leaf=is_variable)
  shardings = jax.tree.leaves(params_sharding, is_leaf=is_variable)
  for (path, variable), sharding in zip(variables, shardings):
    names = getattr(variable, "out_sharding", None) or (None,) * variable.ndim
    spec = sharding.get_value().spec if is_variable(sharding) else sharding.spec
    for dim, (size, axes) in enumerate(zip(variable.shape, spec)):
      axes = () if axes is None else (axes,) if isinstance(axes, str) else tuple(axes)
      ways = math.prod(sharding.mesh.shape[axis] for axis in axes) if axes else 1
      if size % ways:
        name = "/".join(str(getattr(key, "key", key)) for key in path)
        raise ValueError(
            f"parameter {name} dimension {dim} (logical {names[dim]!r}, size {size}) does not "
            f"split over mesh axes {axes} ({ways} ways); change config.model or config.mesh")
