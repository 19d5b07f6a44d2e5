"""projection_einsum: same values and gradients as jnp.einsum, either operand order."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from model import projection


@pytest.mark.parametrize("equation, activation_shape, kernel_shape", [
    ("BLD,DF->BLF", (2, 3, 4), (4, 6)),         # wider output: activation goes first
    ("BLF,FD->BLD", (2, 3, 6), (6, 4)),         # narrower output: output gradient goes first
    ("BLD,DNH->BLNH", (2, 3, 4), (4, 2, 3)),
    ("BLNH,NHD->BLD", (2, 3, 2, 3), (2, 3, 4)),
    ("BLD,VD->BLV", (2, 3, 4), (7, 4)),
])
def test_values_and_gradients_match_jnp_einsum(equation, activation_shape, kernel_shape):
  activation = jax.random.normal(jax.random.key(0), activation_shape)
  kernel = jax.random.normal(jax.random.key(1), kernel_shape)
  weights = jax.random.normal(jax.random.key(2), jnp.einsum(equation, activation, kernel).shape)

  def loss(einsum, activation, kernel):
    return jnp.sum(jnp.sin(einsum(equation, activation, kernel)) * weights)

  expected = jax.grad(lambda *args: loss(jnp.einsum, *args), argnums=(0, 1))(activation, kernel)
  actual = jax.jit(jax.grad(lambda *args: loss(projection.projection_einsum, *args),
                            argnums=(0, 1)))(activation, kernel)
  np.testing.assert_allclose(projection.projection_einsum(equation, activation, kernel),
                             jnp.einsum(equation, activation, kernel), rtol=1e-6)
  for got, want in zip(actual, expected):
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_mixed_precision_gradient_keeps_kernel_dtype():
  activation = jnp.ones((2, 3, 4), jnp.bfloat16)
  kernel = jnp.ones((4, 5), jnp.float32)
  output = projection.projection_einsum("BLD,DF->BLF", activation, kernel.astype(jnp.bfloat16),
                                        preferred_element_type=jnp.float32)
  assert output.dtype == jnp.float32
  kernel_grad = jax.grad(lambda k: projection.projection_einsum(
      "BLD,DF->BLF", activation, k.astype(jnp.bfloat16),
      preferred_element_type=jnp.float32).sum())(kernel)
  assert kernel_grad.dtype == jnp.float32
  np.testing.assert_allclose(kernel_grad, np.full((4, 5), 6.0))


def test_unsupported_arguments_raise():
  with pytest.raises(ValueError, match="precision and out_sharding are not supported"):
    projection.projection_einsum("BLD,DF->BLF", jnp.ones((1, 1, 2)), jnp.ones((2, 2)),
                                 precision=jax.lax.Precision.HIGHEST)
