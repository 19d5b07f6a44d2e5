"""Causal attention with its own backward pass against a plain softmax implementation."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from model import attention


def _reference(query_BxLxNxH, key_BxLxKxH, value_BxLxKxH, scale):
  """softmax(scale q k^T) v with an explicit lower-triangular mask, key/value heads repeated
  over their query groups, differentiated by JAX's autodiff."""
  groups = query_BxLxNxH.shape[2] // key_BxLxKxH.shape[2]
  key_BxLxNxH = jnp.repeat(key_BxLxKxH, groups, axis=2)
  value_BxLxNxH = jnp.repeat(value_BxLxKxH, groups, axis=2)
  logits_BxNxLxS = jnp.einsum("blnh,bsnh->bnls", query_BxLxNxH, key_BxLxNxH) * scale
  length = query_BxLxNxH.shape[1]
  mask_LxS = np.tril(np.ones((length, length), bool))
  probs_BxNxLxS = jax.nn.softmax(jnp.where(mask_LxS, logits_BxNxLxS, -1e30), axis=-1)
  return jnp.einsum("bnls,bsnh->blnh", probs_BxNxLxS, value_BxLxNxH)


def _inputs(batch, length, n_heads, n_kv_heads, head_dim, dtype=jnp.float32):
  rng = np.random.default_rng(0)
  shapes = [(batch, length, n_heads, head_dim), (batch, length, n_kv_heads, head_dim),
            (batch, length, n_kv_heads, head_dim), (batch, length, n_heads, head_dim)]
  return [jnp.asarray(rng.normal(size=shape), dtype) for shape in shapes]


@pytest.mark.parametrize("n_heads,n_kv_heads,scale", [(4, 4, None), (6, 2, 0.3)])
def test_values_and_gradients_match_plain_softmax_attention(n_heads, n_kv_heads, scale):
  query, key, value, cotangent = _inputs(2, 7, n_heads, n_kv_heads, 8)
  reference_scale = 8 ** -0.5 if scale is None else scale

  @jax.jit
  def both(q, k, v):
    ours = lambda *qkv: jnp.sum(attention.causal_attention(*qkv, scale=scale) * cotangent)
    plain = lambda *qkv: jnp.sum(_reference(*qkv, reference_scale) * cotangent)
    return (attention.causal_attention(q, k, v, scale=scale), jax.grad(ours, (0, 1, 2))(q, k, v),
            _reference(q, k, v, reference_scale), jax.grad(plain, (0, 1, 2))(q, k, v))

  output, grads, reference_output, reference_grads = both(query, key, value)
  np.testing.assert_allclose(output, reference_output, atol=2e-6)
  for got, want in zip(grads, reference_grads):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=5e-6)


def test_a_position_sees_only_itself_and_earlier_positions():
  query, key, value, _ = _inputs(1, 6, 2, 2, 4)
  changed_future = value.at[:, 4:].add(10.0)
  before, after = jax.jit(jax.vmap(attention.causal_attention, (None, None, 0)))(
      query, key, jnp.stack([value, changed_future]))
  np.testing.assert_array_equal(before[:, :4], after[:, :4])
  assert not np.allclose(before[:, 4:], after[:, 4:])


def test_bfloat16_inputs_give_bfloat16_outputs_and_gradients():
  query, key, value, _ = _inputs(1, 5, 2, 1, 8, jnp.bfloat16)

  @jax.jit
  def output_and_grads(q, k, v):
    loss = lambda *qkv: attention.causal_attention(*qkv).astype(jnp.float32).sum()
    return (attention.causal_attention(q, k, v), jax.grad(loss, (0, 1, 2))(q, k, v),
            _reference(*(x.astype(jnp.float32) for x in (q, k, v)), 8 ** -0.5))

  output, grads, reference = output_and_grads(query, key, value)
  assert output.dtype == jnp.bfloat16 and all(g.dtype == jnp.bfloat16 for g in grads)
  np.testing.assert_allclose(output.astype(jnp.float32), reference, atol=3e-2)


def test_query_heads_that_do_not_group_over_key_heads_are_refused():
  query, key, value, _ = _inputs(1, 3, 3, 2, 4)
  with pytest.raises(ValueError, match="3 query heads"):
    attention.causal_attention(query, key, value)
