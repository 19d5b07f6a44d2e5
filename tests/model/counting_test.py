"""Parameter and FLOP counts against the real parameter tree and a term-by-term hand count."""
import jax
import pytest
from flax import nnx

from model import ModelConfig, Transformer, counting

TINY = dict(vocab_size=11, d_model=8, n_layers=2, n_heads=2, n_kv_heads=2, d_ff=12, seq_len=4)


@pytest.mark.parametrize("overrides", [
    dict(),
    dict(tie_embeddings=False),
    dict(n_heads=4, n_kv_heads=2),
    dict(n_heads=4, n_kv_heads=1, tie_embeddings=False, n_layers=3),
])
def test_param_counts_equal_parameter_tree(overrides):
  config = ModelConfig(**{**TINY, **overrides})
  model = nnx.eval_shape(lambda: Transformer(config, rngs=nnx.Rngs(params=0)))
  params = nnx.state(model, nnx.Param)
  counts = counting.param_counts(config)
  assert counts["total"] == sum(x.size for x in jax.tree.leaves(params))
  assert counts["embedding"] + counts["non_embedding"] == counts["total"]
  embedding_tree = params["embed"]["embedding"].size
  if not config.tie_embeddings:
    embedding_tree += params["head"]["kernel"].size
  assert counts["embedding"] == embedding_tree


def test_non_embedding_count_by_hand():
  config = ModelConfig(**TINY)
  # Per layer: 2 norms of 8, q/k/v/o of 8 x 2 x 4, three MLP matrices of 8 x 12; final norm 8.
  per_layer = 2 * 8 + 4 * (8 * 2 * 4) + 3 * (8 * 12)
  assert counting.param_counts(config) == dict(
      total=11 * 8 + 2 * per_layer + 8, embedding=11 * 8, non_embedding=2 * per_layer + 8)


def test_flops_match_hand_count_for_tiny_gqa_config():
  config = ModelConfig(vocab_size=11, d_model=8, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=12,
                       seq_len=4, tie_embeddings=False)
  length, vocab, d_model, head_dim, n_layers = 4, 11, 8, 2, 2
  embeddings = 2 * length * vocab * d_model                          # 704
  query = 2 * length * d_model * (4 * head_dim)                      # 512
  keys_values = 2 * 2 * length * d_model * (2 * head_dim)            # 512
  logits_qk = 2 * length * length * (4 * head_dim)                   # 256
  softmax = 3 * 4 * length * length                                  # 192
  reduce = 2 * length * length * (4 * head_dim)                      # 256
  projection = 2 * length * (4 * head_dim) * d_model                 # 512
  dense = 2 * length * 3 * d_model * 12                              # 2304
  final_logits = 2 * length * d_model * vocab                        # 704
  per_layer = query + keys_values + logits_qk + softmax + reduce + projection + dense
  forward = embeddings + n_layers * per_layer + final_logits
  assert forward == 704 + 2 * 4544 + 704
  flops = counting.flops_per_token(config)
  assert flops["exact"] == 3 * forward // length
  assert flops["exact_no_embedding"] == 3 * (forward - embeddings) // length
  assert sum(counting.forward_flops_per_sequence(config).values()) == forward
  non_embedding = counting.param_counts(config)["non_embedding"]
  total = counting.param_counts(config)["total"]
  assert flops["6nd"] == 6 * non_embedding == counting.flops_per_token_6n(config)
  assert 6 * total == counting.flops_per_token_6n(config, non_embedding=False)
  assert set(flops) == {"6nd", "exact", "exact_no_embedding"}


def test_exact_flops_approach_6nd_for_wide_models():
  config = ModelConfig(vocab_size=32, d_model=1024, n_layers=4, n_heads=8, n_kv_heads=8,
                       d_ff=2816, seq_len=16)
  flops = counting.flops_per_token(config)
  assert flops["exact_no_embedding"] == pytest.approx(flops["6nd"], rel=0.01)
