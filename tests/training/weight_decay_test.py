"""The optimizer's weight-decay mask (training/optimizer.py) on the real transformer: matrices
decay, norm scales do not."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from model import ModelConfig, Transformer
from training import optimizer

CONFIG = ModelConfig(vocab_size=16, d_model=16, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=32,
                     seq_len=8, init_std=0.2, tie_embeddings=False)


def test_weight_decay_mask_skips_norm_scales_in_adamw():
  model = nnx.eval_shape(lambda: Transformer(CONFIG, rngs=nnx.Rngs(params=0)))
  mask = optimizer.weight_decay_mask(nnx.state(model, nnx.Param))
  assert mask["blocks"]["mlp"]["gate"]["kernel"] and mask["embed"]["embedding"]
  assert mask["head"]["kernel"] and mask["blocks"]["attention"]["query"]["kernel"]
  assert not mask["blocks"]["mlp_norm"]["scale"] and not mask["final_norm"]["scale"]
  params = jax.tree.map(lambda x: jnp.ones(x.shape, x.dtype), nnx.state(model, nnx.Param))
  adamw = optax.adamw(0.1, weight_decay=0.5, mask=mask)
  zero_grads = jax.tree.map(jnp.zeros_like, params)
  updates, _ = jax.jit(adamw.update)(zero_grads, adamw.init(params), params)
  after = optax.apply_updates(params, updates)
  np.testing.assert_array_equal(after["final_norm"]["scale"][...],
                                params["final_norm"]["scale"][...])
  np.testing.assert_allclose(after["blocks"]["mlp"]["up"]["kernel"][...],
                             params["blocks"]["mlp"]["up"]["kernel"][...] * (1 - 0.1 * 0.5),
                             rtol=1e-6)
