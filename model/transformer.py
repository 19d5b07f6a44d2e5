"""The decoder-only transformer: embed -> scanned blocks -> final RMSNorm -> tied or untied head."""
import jax
import jax.numpy as jnp
from flax import nnx

from model import layers, parametrization, projection, sharding
from model.config import ModelConfig


def _stacked_blocks(config: ModelConfig, rngs: nnx.Rngs) -> layers.Block:
  """n_layers blocks whose parameters are stacked on a leading axis named 'layers'."""

  @nnx.vmap(in_axes=0, out_axes=0, transform_metadata={nnx.PARTITION_NAME: "layers"})
  def make_block(key: jax.Array) -> layers.Block:
    return layers.Block(config, rngs=nnx.Rngs(params=key))

  return make_block(jax.random.split(rngs.params(), config.n_layers))


class Transformer(nnx.Module):
  """Llama-style decoder-only language model.

  Calling it maps int32 tokens [B, L] (L <= seq_len) to next-token logits [B, L, vocab_size] in
  float32. The blocks are stored stacked (each block parameter has a leading 'layers' axis) and run
  with `jax.lax.scan`, so compile time does not grow with depth. Under μP the hidden matrices
  start rescaled and the logits are multiplied by 1/width multiplier (model/parametrization.py).
  """

  def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
    self.config = config.validate()
    self.embed = layers.Embedding(config, rngs=rngs)
    self.blocks = _stacked_blocks(config, rngs)
    self.final_norm = layers.rms_norm(config, rngs)
    if config.tie_embeddings:
      self.head = None
    else:
      self.head = nnx.Einsum(
          "BLD,DV->BLV", (config.d_model, config.vocab_size), dtype=config.compute_dtype,
          param_dtype=config.parameter_dtype, preferred_element_type=jnp.float32,
          kernel_init=nnx.initializers.normal(stddev=config.init_std),
          kernel_metadata=sharding.param_metadata(("embed", "vocab")),
          einsum_op=projection.projection_einsum, rngs=rngs)
    parametrization.rescale_init(config, self)

  def __call__(self, tokens_BxL: jax.Array) -> jax.Array:
    """Returns float32 logits [B, L, vocab_size]; position t sees tokens 0..t only."""
    length = tokens_BxL.shape[-1]
    if length > self.config.seq_len:
      raise ValueError(
          f"input length {length} exceeds model.seq_len={self.config.seq_len}: "
          "pass shorter sequences or raise seq_len")
    sin_LxH2, cos_LxH2 = layers.rope_tables(
        jnp.arange(length), self.config.head_dim, self.config.rope_theta)
    x_BxLxD = self.embed(tokens_BxL)
    block_graph, block_state = nnx.split(self.blocks)

    def run_block(carry_BxLxD: jax.Array, layer_state: nnx.State) -> tuple[jax.Array, None]:
      block = nnx.merge(block_graph, layer_state)
      return block(carry_BxLxD, sin_LxH2, cos_LxH2), None

    x_BxLxD, _ = jax.lax.scan(run_block, x_BxLxD, block_state)
    x_BxLxD = self.final_norm(x_BxLxD)
    logits_BxLxV = self.embed.attend(x_BxLxD) if self.head is None else self.head(x_BxLxD)
    if parametrization.is_mup(self.config):
      logits_BxLxV = logits_BxLxV * parametrization.output_multiplier(self.config)
    return logits_BxLxV
