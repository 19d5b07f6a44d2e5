"""Transformer layers: rotary embeddings, token embedding with a float32 head, attention, SwiGLU.

Local tensor names carry their shape: B batch, L length (tokens), D d_model, N query heads,
K key/value heads, H head size, F d_ff, V vocabulary. Every parameter is annotated with logical
axis names (see model/sharding.py) through `out_sharding` metadata.
"""
import math

import jax
import jax.numpy as jnp
from flax import nnx

from model import attention, parametrization, projection, sharding
from model.config import ModelConfig


def rope_tables(positions_L: jax.Array, head_dim: int, theta: float
                ) -> tuple[jax.Array, jax.Array]:
  """Sine and cosine tables of rotary embeddings, float32 arrays of shape [L, head_dim // 2].

  Pair i of a head (features i and i + head_dim/2) rotates by angle position * theta^(-2i/H).
  """
  exponents = jnp.arange(0, head_dim // 2, dtype=jnp.float32) * (2.0 / head_dim)
  inverse_frequencies = theta ** -exponents
  angles_LxH2 = positions_L.astype(jnp.float32)[:, None] * inverse_frequencies[None, :]
  return jnp.sin(angles_LxH2), jnp.cos(angles_LxH2)


def apply_rope(x_BxLxNxH: jax.Array, sin_LxH2: jax.Array, cos_LxH2: jax.Array) -> jax.Array:
  """Rotates feature pairs (i, i + H/2) of every head by the position's angle.

  The rotation is computed in float32 and the result cast back to x's dtype (no casts in fp32).
  """
  sin, cos = sin_LxH2[None, :, None, :], cos_LxH2[None, :, None, :]
  first_BxLxNxH2, second_BxLxNxH2 = jnp.split(x_BxLxNxH.astype(jnp.float32), 2, axis=-1)
  rotated_BxLxNxH = jnp.concatenate(
      [first_BxLxNxH2 * cos - second_BxLxNxH2 * sin,
       second_BxLxNxH2 * cos + first_BxLxNxH2 * sin], axis=-1)
  return rotated_BxLxNxH.astype(x_BxLxNxH.dtype)


def _normal(stddev: float) -> nnx.Initializer:
  return nnx.initializers.normal(stddev=stddev)


def _projection(config: ModelConfig, equation: str, kernel_shape: tuple[int, ...],
                axes: tuple[str, ...], stddev: float, rngs: nnx.Rngs) -> nnx.Einsum:
  return nnx.Einsum(
      equation, kernel_shape, dtype=config.compute_dtype, param_dtype=config.parameter_dtype,
      kernel_init=_normal(stddev), kernel_metadata=sharding.param_metadata(axes),
      einsum_op=projection.projection_einsum, rngs=rngs)


def rms_norm(config: ModelConfig, rngs: nnx.Rngs) -> nnx.RMSNorm:
  """RMSNorm over d_model with a learned scale (logical axes ('embed',)), no bias."""
  return nnx.RMSNorm(
      config.d_model, epsilon=config.norm_eps, dtype=config.compute_dtype,
      param_dtype=config.parameter_dtype, scale_metadata=sharding.param_metadata(("embed",)),
      rngs=rngs)


class Embedding(nnx.Embed):
  """Token embedding [V, D], logical axes ('vocab', 'embed'); `attend` gives float32 logits."""

  def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
    super().__init__(
        config.vocab_size, config.d_model, dtype=config.compute_dtype,
        param_dtype=config.parameter_dtype, embedding_init=_normal(config.init_std),
        embedding_metadata=sharding.param_metadata(("vocab", "embed")), rngs=rngs)

  def attend(self, x_BxLxD: jax.Array) -> jax.Array:
    """Logits [B, L, V] of x against every embedding row, accumulated and returned in float32."""
    embedding_VxD = self.embedding[...].astype(self.dtype)
    return projection.projection_einsum("BLD,VD->BLV", x_BxLxD.astype(self.dtype), embedding_VxD,
                                        preferred_element_type=jnp.float32)


class Attention(nnx.Module):
  """Causal multi-head attention with grouped-query key/value heads and rotary positions; query-key
  products are scaled by `parametrization.attention_scale` (1/sqrt(head size) unless μP)."""

  def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
    d_model, n_heads, n_kv_heads, head_dim = (
        config.d_model, config.n_heads, config.n_kv_heads, config.head_dim)
    output_std = config.init_std / math.sqrt(2 * config.n_layers)
    self.query = _projection(config, "BLD,DNH->BLNH", (d_model, n_heads, head_dim),
                             ("embed", "heads", "head_dim"), config.init_std, rngs)
    self.key = _projection(config, "BLD,DKH->BLKH", (d_model, n_kv_heads, head_dim),
                           ("embed", "kv_heads", "head_dim"), config.init_std, rngs)
    self.value = _projection(config, "BLD,DKH->BLKH", (d_model, n_kv_heads, head_dim),
                             ("embed", "kv_heads", "head_dim"), config.init_std, rngs)
    self.output = _projection(config, "BLNH,NHD->BLD", (n_heads, head_dim, d_model),
                              ("heads", "head_dim", "embed"), output_std, rngs)
    self.scale = parametrization.attention_scale(config)

  def __call__(self, x_BxLxD: jax.Array, sin_LxH2: jax.Array, cos_LxH2: jax.Array
               ) -> jax.Array:
    query_BxLxNxH = apply_rope(self.query(x_BxLxD), sin_LxH2, cos_LxH2)
    key_BxLxKxH = apply_rope(self.key(x_BxLxD), sin_LxH2, cos_LxH2)
    value_BxLxKxH = self.value(x_BxLxD)
    attended_BxLxNxH = attention.causal_attention(
        query_BxLxNxH, key_BxLxKxH, value_BxLxKxH, scale=self.scale)
    return self.output(attended_BxLxNxH)


class SwiGLU(nnx.Module):
  """The gated MLP down(silu(gate(x)) * up(x)) with hidden width d_ff."""

  def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
    d_model, d_ff = config.d_model, config.d_ff
    output_std = config.init_std / math.sqrt(2 * config.n_layers)
    self.gate = _projection(config, "BLD,DF->BLF", (d_model, d_ff), ("embed", "mlp"),
                            config.init_std, rngs)
    self.up = _projection(config, "BLD,DF->BLF", (d_model, d_ff), ("embed", "mlp"),
                          config.init_std, rngs)
    self.down = _projection(config, "BLF,FD->BLD", (d_ff, d_model), ("mlp", "embed"),
                            output_std, rngs)

  def __call__(self, x_BxLxD: jax.Array) -> jax.Array:
    hidden_BxLxF = jax.nn.silu(self.gate(x_BxLxD)) * self.up(x_BxLxD)
    return self.down(hidden_BxLxF)


class Block(nnx.Module):
  """Pre-norm transformer block: x + attention(norm(x)), then + swiglu(norm(x))."""

  def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
    self.attention_norm = rms_norm(config, rngs)
    self.attention = Attention(config, rngs=rngs)
    self.mlp_norm = rms_norm(config, rngs)
    self.mlp = SwiGLU(config, rngs=rngs)

  def __call__(self, x_BxLxD: jax.Array, sin_LxH2: jax.Array, cos_LxH2: jax.Array
               ) -> jax.Array:
    x_BxLxD = x_BxLxD + self.attention(self.attention_norm(x_BxLxD), sin_LxH2, cos_LxH2)
    return x_BxLxD + self.mlp(self.mlp_norm(x_BxLxD))
