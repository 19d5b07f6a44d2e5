"""Parameter counts and training FLOPs per token as pure functions of a ModelConfig.

Parameter convention (Kaplan et al. 2020, adapted): *embedding* parameters are the token
embedding matrix (vocab_size x d_model) plus, when the head is untied, the output head
(d_model x vocab_size); a tied head adds no parameters. There are no positional parameters
(RoPE has none). Everything else is *non-embedding*: per block the attention and MLP norm scales,
the query/key/value/output projections and the three SwiGLU matrices, plus the final norm scale.
No parameter has a bias.

FLOP convention (Hoffmann et al. 2022, appendix F, adapted to SwiGLU and grouped-query
attention): a multiply-add is 2 FLOPs; norms, RoPE, residual additions and the SwiGLU gate
nonlinearity are not counted; attention is counted over the full L x L square (no causal
discount), as the dense implementation computes it; the backward pass costs twice the forward,
so training FLOPs = 3 x forward FLOPs. All figures are per token of a full seq_len window.
The conventions for C are named as in records/conventions.py ('6nd', 'exact').
"""
from model.config import ModelConfig
from records import conventions


def layer_params(config: ModelConfig) -> int:
  """Parameters of one transformer block (count of scalars)."""
  d_model, head_dim, d_ff = config.d_model, config.head_dim, config.d_ff
  attention = d_model * head_dim * (2 * config.n_heads + 2 * config.n_kv_heads)
  mlp = 3 * d_model * d_ff
  norms = 2 * d_model
  return attention + mlp + norms


def param_counts(config: ModelConfig) -> dict[str, int]:
  """Parameter counts {'total', 'embedding', 'non_embedding'} (scalars), convention above.

  total = embedding + non_embedding equals the number of scalars in nnx.state(model, nnx.Param).
  """
  embedding_matrices = 1 if config.tie_embeddings else 2
  embedding = embedding_matrices * config.vocab_size * config.d_model
  non_embedding = config.n_layers * layer_params(config) + config.d_model
  return dict(total=embedding + non_embedding, embedding=embedding, non_embedding=non_embedding)


def forward_flops_per_sequence(config: ModelConfig) -> dict[str, int]:
  """Forward FLOPs of one sequence of seq_len tokens, term by term (appendix F convention).

  Terms (L = seq_len, V = vocab_size, D = d_model, H = head size, N / K = query / key-value
  heads, F = d_ff, n = n_layers):
    embeddings      2 L V D            (the lookup counted as a one-hot matmul, as in appendix F)
    attention_qkv   n * 2 L D H (N + 2K)
    attention_logits n * 2 L L N H     (query-key dot products)
    attention_softmax n * 3 N L L
    attention_reduce n * 2 L L N H     (softmax-weighted sum of values)
    attention_output n * 2 L N H D
    mlp             n * 2 L 3 D F      (SwiGLU: gate, up and down matrices)
    logits          2 L D V
  """
  length, vocab, d_model = config.seq_len, config.vocab_size, config.d_model
  head_dim, n_heads, n_kv_heads = config.head_dim, config.n_heads, config.n_kv_heads
  n_layers = config.n_layers
  return dict(
      embeddings=2 * length * vocab * d_model,
      attention_qkv=n_layers * 2 * length * d_model * head_dim * (n_heads + 2 * n_kv_heads),
      attention_logits=n_layers * 2 * length * length * n_heads * head_dim,
      attention_softmax=n_layers * 3 * n_heads * length * length,
      attention_reduce=n_layers * 2 * length * length * n_heads * head_dim,
      attention_output=n_layers * 2 * length * n_heads * head_dim * d_model,
      mlp=n_layers * 2 * length * 3 * d_model * config.d_ff,
      logits=2 * length * d_model * vocab,
  )


def flops_per_token_6n(config: ModelConfig, non_embedding: bool = True) -> int:
  """Training FLOPs per token by the 6N rule: 6 x non-embedding (or, if False, total) params."""
  counts = param_counts(config)
  return 6 * counts["non_embedding" if non_embedding else "total"]


def flops_per_token(config: ModelConfig) -> dict[str, int]:
  """Training FLOPs per token (forward + backward), several conventions; all exact integers.

  Returns, keyed by the C convention (records.conventions) where there is one:
    '6nd': 6 x non-embedding parameters (Kaplan's C = 6 N D, per token; with total
      parameters it is `flops_per_token_6n(config, non_embedding=False)`).
    'exact': 3 x the appendix-F forward count per token, including the embedding term.
    exact_no_embedding: `exact` without the embedding-lookup term, which no matmul performs;
      the numerator to use for model FLOPs utilisation.
  """
  forward = forward_flops_per_sequence(config)
  forward_total = sum(forward.values())
  return {
      conventions.C_6ND: flops_per_token_6n(config, non_embedding=True),
      conventions.C_EXACT: 3 * forward_total // config.seq_len,
      "exact_no_embedding": 3 * (forward_total - forward["embeddings"]) // config.seq_len,
  }
