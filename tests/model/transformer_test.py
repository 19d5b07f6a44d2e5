"""Transformer behaviour: an independent reference forward, causality, RoPE, jit, dtypes."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from model import ModelConfig, Transformer, layers

TINY = dict(vocab_size=17, d_model=16, n_layers=2, n_heads=4, n_kv_heads=4, d_ff=24, seq_len=8,
            init_std=0.2)


_FORWARDS = {}


def _model(**overrides) -> Transformer:
  return Transformer(ModelConfig(**{**TINY, **overrides}), rngs=nnx.Rngs(params=0))


def _jitted_logits(model: Transformer, tokens_BxL: jax.Array) -> jax.Array:
  """model(tokens) through one jitted split/merge function per model graph (compiled once)."""
  graphdef, state = nnx.split(model)
  if graphdef not in _FORWARDS:
    _FORWARDS[graphdef] = jax.jit(lambda state, tokens: nnx.merge(graphdef, state)(tokens))
  return _FORWARDS[graphdef](state, tokens_BxL)


def _tokens(batch: int = 2, length: int = 8, vocab: int = 17, seed: int = 1) -> jax.Array:
  return jax.random.randint(jax.random.key(seed), (batch, length), 0, vocab, dtype=jnp.int32)


def _reference_rope(x_BxLxNxH: np.ndarray, theta: float) -> np.ndarray:
  """RoPE as complex multiplication of (x_i + i x_{i+H/2}) by exp(i pos theta^(-2i/H))."""
  half = x_BxLxNxH.shape[-1] // 2
  pairs = x_BxLxNxH[..., :half] + 1j * x_BxLxNxH[..., half:]
  frequencies = theta ** (-2.0 * np.arange(half) / (2 * half))
  positions = np.arange(x_BxLxNxH.shape[1])
  rotation = np.exp(1j * positions[:, None] * frequencies[None, :])[None, :, None, :]
  rotated = pairs * rotation
  return np.concatenate([rotated.real, rotated.imag], axis=-1)


def _reference_logits(model: Transformer, tokens_BxL: np.ndarray) -> np.ndarray:
  """The model's math in float64 numpy, with explicit masks and repeated key/value heads."""
  config = model.config
  params = jax.tree.map(lambda x: np.asarray(x, np.float64), nnx.state(model, nnx.Param))
  params = nnx.to_pure_dict(params)

  def rms_norm(x, scale):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + config.norm_eps) * scale

  embedding = params["embed"]["embedding"]
  x = embedding[tokens_BxL]
  length = tokens_BxL.shape[1]
  group = config.n_heads // config.n_kv_heads
  allowed = np.tril(np.ones((length, length), bool))
  for layer in range(config.n_layers):
    block = jax.tree.map(lambda p, i=layer: p[i], params["blocks"])
    attention = block["attention"]
    h = rms_norm(x, block["attention_norm"]["scale"])
    query = _reference_rope(np.einsum("bld,dnh->blnh", h, attention["query"]["kernel"]),
                            config.rope_theta)
    key = _reference_rope(np.einsum("bld,dkh->blkh", h, attention["key"]["kernel"]),
                          config.rope_theta)
    value = np.einsum("bld,dkh->blkh", h, attention["value"]["kernel"])
    key, value = np.repeat(key, group, axis=2), np.repeat(value, group, axis=2)
    scores = np.einsum("bqnh,bknh->bnqk", query, key) / np.sqrt(config.head_dim)
    scores = np.where(allowed, scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    attended = np.einsum("bnqk,bknh->bqnh", weights, value)
    x = x + np.einsum("blnh,nhd->bld", attended, attention["output"]["kernel"])
    h = rms_norm(x, block["mlp_norm"]["scale"])
    mlp = block["mlp"]
    gate = h @ mlp["gate"]["kernel"]
    hidden = gate / (1.0 + np.exp(-gate)) * (h @ mlp["up"]["kernel"])
    x = x + hidden @ mlp["down"]["kernel"]
  x = rms_norm(x, params["final_norm"]["scale"])
  head = embedding.T if config.tie_embeddings else params["head"]["kernel"]
  return x @ head


@pytest.mark.parametrize("overrides", [
    dict(), dict(n_kv_heads=2), dict(n_kv_heads=1, tie_embeddings=False)])
def test_forward_matches_reference(overrides):
  model = _model(**overrides)
  tokens = _tokens()
  logits = _jitted_logits(model, tokens)
  assert logits.shape == (2, 8, 17) and logits.dtype == jnp.float32
  np.testing.assert_allclose(logits, _reference_logits(model, np.asarray(tokens)),
                             rtol=1e-4, atol=1e-4)


def test_grouped_query_equals_multi_head_with_repeated_kv():
  grouped = _model(n_kv_heads=2)
  multi_head = _model(n_kv_heads=4)
  params = nnx.to_pure_dict(nnx.state(grouped, nnx.Param))
  for name in ("key", "value"):
    kernel = params["blocks"]["attention"][name]["kernel"]
    params["blocks"]["attention"][name]["kernel"] = jnp.repeat(kernel, 2, axis=2)
  multi_params = nnx.state(multi_head, nnx.Param)
  nnx.replace_by_pure_dict(multi_params, params)
  nnx.update(multi_head, multi_params)
  tokens = _tokens()
  np.testing.assert_allclose(_jitted_logits(grouped, tokens), _jitted_logits(multi_head, tokens),
                             rtol=1e-5, atol=1e-6)


def test_logit_at_position_depends_only_on_earlier_tokens():
  model = _model(tie_embeddings=False)
  tokens = jnp.arange(8, dtype=jnp.int32)[None, :]  # distinct token per position
  graphdef, params = nnx.split(model)

  @jax.jit
  def embedding_grads(params, position):
    logit_sum = lambda params: nnx.merge(graphdef, params)(tokens)[0, position].sum()
    return jax.grad(logit_sum)(params)

  for position in (0, 3, 7):
    grads = embedding_grads(params, position)
    row_norms = jnp.linalg.norm(grads["embed"]["embedding"][...][:8], axis=-1)
    assert jnp.all(row_norms[position + 1:] == 0.0)
    assert jnp.all(row_norms[:position + 1] > 0.0)


def test_rope_depends_only_on_relative_position():
  query = jax.random.normal(jax.random.key(0), (1, 1, 1, 8))
  key = jax.random.normal(jax.random.key(1), (1, 1, 1, 8))

  def score(query_position, key_position):
    rotated = []
    for x, position in ((query, query_position), (key, key_position)):
      sin, cos = layers.rope_tables(jnp.array([position]), 8, 10_000.0)
      rotated.append(layers.apply_rope(x, sin, cos))
    return float(jnp.sum(rotated[0] * rotated[1]))

  assert score(5, 2) == pytest.approx(score(103, 100), rel=1e-5)
  assert score(5, 2) != pytest.approx(score(5, 3), rel=1e-3)
  sin, cos = layers.rope_tables(jnp.array([37]), 8, 10_000.0)
  rotated = layers.apply_rope(query, sin, cos)
  assert float(jnp.linalg.norm(rotated)) == pytest.approx(float(jnp.linalg.norm(query)), rel=1e-6)


def test_jit_matches_eager_through_split_and_merge():
  model = _model(n_kv_heads=2)
  tokens = _tokens()
  np.testing.assert_allclose(_jitted_logits(model, tokens), model(tokens), rtol=1e-5, atol=1e-6)


def test_bfloat16_compute_stays_close_to_float32():
  full = _model()
  half = _model(dtype="bfloat16")
  assert nnx.state(half, nnx.Param)["blocks"]["mlp"]["up"]["kernel"].dtype == jnp.float32
  tokens = _tokens()
  half_logits = _jitted_logits(half, tokens)
  assert half_logits.dtype == jnp.float32
  full_probs = jax.nn.softmax(_jitted_logits(full, tokens))
  np.testing.assert_allclose(jax.nn.softmax(half_logits), full_probs, atol=2e-2)


@pytest.mark.parametrize("tie_embeddings", [True, False])
def test_bfloat16_parameters_still_give_float32_logits(tie_embeddings):
  model = nnx.eval_shape(lambda: _model(dtype="bfloat16", param_dtype="bfloat16",
                                        tie_embeddings=tie_embeddings))
  params = nnx.state(model, nnx.Param)
  assert {x.dtype for x in jax.tree.leaves(params)} == {jnp.dtype(jnp.bfloat16)}
  graphdef, state = nnx.split(model)
  logits = jax.eval_shape(lambda state: nnx.merge(graphdef, state)(_tokens()), state)
  assert logits.dtype == jnp.float32 and logits.shape == (2, 8, 17)


def test_shorter_inputs_are_a_prefix_of_longer_ones():
  model = _model()
  tokens = _tokens()
  np.testing.assert_allclose(_jitted_logits(model, tokens[:, :5]),
                             _jitted_logits(model, tokens)[:, :5], rtol=1e-5, atol=1e-6)


def test_input_longer_than_context_raises():
  with pytest.raises(ValueError, match="exceeds model.seq_len=8"):
    _model()(_tokens(length=9))


def test_tree_mode_split_merge_round_trip():
  with nnx.set_graph_mode(False):
    model = _model(tie_embeddings=False)
    graphdef, state = nnx.split(model)
    logits = jax.jit(lambda state, tokens: nnx.merge(graphdef, state)(tokens))(state, _tokens())
  np.testing.assert_allclose(logits, _jitted_logits(model, _tokens()), rtol=1e-5, atol=1e-6)


def _equation_count(jaxpr) -> int:
  """Equations in a jaxpr, including those of nested jaxprs (scan bodies, pjit calls)."""
  count = len(jaxpr.eqns)
  for eqn in jaxpr.eqns:
    for param in eqn.params.values():
      inner = getattr(param, "jaxpr", param)
      if hasattr(inner, "eqns"):
        count += _equation_count(inner)
  return count


def test_layers_are_scanned_so_the_program_does_not_grow_with_depth():
  def program(n_layers):
    model = nnx.eval_shape(lambda: _model(n_layers=n_layers))
    graphdef, state = nnx.split(model)
    jaxpr = jax.make_jaxpr(lambda state: nnx.merge(graphdef, state)(_tokens()))(state).jaxpr
    return _equation_count(jaxpr), [eqn.primitive.name for eqn in jaxpr.eqns].count("scan")

  assert program(2) == program(12)
  assert program(2)[1] == 1
