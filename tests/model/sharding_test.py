"""The model on a (2, 2, 2) data/fsdp/tensor mesh of 8 fake devices, and logical-axis helpers."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec as P

from configs import base
from model import ModelConfig, Transformer, sharding

CONFIG = ModelConfig(vocab_size=16, d_model=16, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=32,
                     seq_len=8, init_std=0.2, tie_embeddings=False)


def _mesh() -> jax.sharding.Mesh:
  if jax.device_count() < 8:
    pytest.skip("needs 8 devices (XLA_FLAGS=--xla_force_host_platform_device_count=8)")
  return jax.make_mesh((2, 2, 2), ("data", "fsdp", "tensor"),
                       axis_types=(jax.sharding.AxisType.Auto,) * 3)


def test_sharded_model_follows_rules_and_matches_unsharded_logits():
  mesh = _mesh()
  rules = base.get_config().logical_axis_rules
  tokens = jax.random.randint(jax.random.key(3), (4, 8), 0, 16, dtype=jnp.int32)
  make_model = lambda: Transformer(CONFIG, rngs=nnx.Rngs(params=0))
  graphdef, unsharded_state = nnx.split(make_model())
  forward = lambda state, tokens: nnx.merge(graphdef, state)(tokens)
  expected = jax.jit(forward)(unsharded_state, tokens)

  with jax.set_mesh(mesh), nnx.logical_axis_rules(rules):
    abstract_state = nnx.state(nnx.eval_shape(make_model))
    shardings = nnx.get_named_sharding(abstract_state, mesh)
    state = jax.jit(lambda: nnx.state(make_model()), out_shardings=shardings)()
    batch = jax.device_put(tokens, NamedSharding(mesh, P(("data", "fsdp"))))
    logits = jax.jit(forward)(state, batch)

  attention, mlp = state["blocks"]["attention"], state["blocks"]["mlp"]
  assert state["embed"]["embedding"].sharding.spec == P("tensor", "fsdp")
  assert state["head"]["kernel"].sharding.spec == P("fsdp", "tensor")
  assert attention["query"]["kernel"].sharding.spec == P(None, "fsdp", "tensor", None)
  assert attention["key"]["kernel"].sharding.spec == P(None, "fsdp", "tensor", None)
  assert attention["output"]["kernel"].sharding.spec == P(None, "tensor", None, "fsdp")
  assert mlp["down"]["kernel"].sharding.spec == P(None, "tensor", "fsdp")
  assert state["blocks"]["mlp_norm"]["scale"].sharding.spec == P(None, "fsdp")
  assert state["final_norm"]["scale"].sharding.spec == P("fsdp")
  np.testing.assert_allclose(state["head"]["kernel"][...], unsharded_state["head"]["kernel"][...],
                             rtol=1e-6)
  np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)


def test_logical_axes_name_every_parameter():
  model = nnx.eval_shape(lambda: Transformer(CONFIG, rngs=nnx.Rngs(params=0)))
  axes = sharding.logical_axes(model)
  params = nnx.to_flat_state(nnx.state(model, nnx.Param))
  assert len(axes) == len(params)
  assert axes["blocks/attention/key/kernel"] == ("layers", "embed", "kv_heads", "head_dim")
  assert axes["blocks/mlp/up/kernel"] == ("layers", "embed", "mlp")
  assert axes["blocks/attention_norm/scale"] == ("layers", "embed")
  assert axes["embed/embedding"] == ("vocab", "embed")
  assert axes["head/kernel"] == ("embed", "vocab")
  for path, variable in params:
    names = axes["/".join(map(str, path))]
    assert len(names) == variable.ndim and set(names) <= set(sharding.LOGICAL_AXES)


def test_unknown_logical_axis_name_raises():
  with pytest.raises(ValueError, match="not in LOGICAL_AXES"):
    sharding.param_metadata(("embed", "experts"))
