"""An activation-by-kernel einsum whose kernel gradient transposes the narrower operand.

For y = einsum('BLD,DF->BLF', x, kernel) the kernel gradient contracts the batch and length axes
of both x and the output gradient g. XLA:CPU runs that dot with one operand physically
transposed, and under autodiff it tends to transpose g even when g is the wider one (for the
SwiGLU up-projections, F = 8/3 D), which showed up as ~13% of a d_model=256 train step. Here the
kernel gradient is written as an explicit einsum whose first operand (the one XLA transposes) is
the narrower of x and g. The input gradient is the ordinary autodiff one. Values are unchanged.
"""
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp


def _parse(equation: str) -> tuple[str, str, str]:
  inputs, output = equation.replace(" ", "").split("->")
  activation, kernel = inputs.split(",")
  return activation, kernel, output


def _features(axes: str, array: jax.Array, kernel_axes: str) -> int:
  """Product of the sizes of `array`'s axes that belong to the kernel."""
  return math.prod(size for axis, size in zip(axes, array.shape) if axis in kernel_axes)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 3))
def _einsum(equation: str, activation: jax.Array, kernel: jax.Array,
            preferred_element_type: Any) -> jax.Array:
  return jnp.einsum(equation, activation, kernel, preferred_element_type=preferred_element_type)


def _einsum_forward(equation, activation, kernel, preferred_element_type):
  output = _einsum(equation, activation, kernel, preferred_element_type)
  return output, (activation, kernel)


def _einsum_backward(equation, preferred_element_type, residuals, output_grad):
  activation, kernel = residuals
  activation_axes, kernel_axes, output_axes = _parse(equation)
  _, activation_vjp = jax.vjp(
      lambda x: jnp.einsum(equation, x, kernel, preferred_element_type=preferred_element_type),
      activation)
  (activation_grad,) = activation_vjp(output_grad)
  output_grad = output_grad.astype(activation.dtype)
  if (_features(activation_axes, activation, kernel_axes)
      <= _features(output_axes, output_grad, kernel_axes)):
    kernel_grad = jnp.einsum(f"{activation_axes},{output_axes}->{kernel_axes}",
                             activation, output_grad, preferred_element_type=jnp.float32)
  else:
    kernel_grad = jnp.einsum(f"{output_axes},{activation_axes}->{kernel_axes}",
                             output_grad, activation, preferred_element_type=jnp.float32)
  return activation_grad, kernel_grad.astype(kernel.dtype)


_einsum.defvjp(_einsum_forward, _einsum_backward)


def projection_einsum(equation: str, activation: jax.Array, kernel: jax.Array,
                      precision: Any = None, out_sharding: Any = None,
                      preferred_element_type: Any = None) -> jax.Array:
  """jnp.einsum(equation, activation, kernel) with the kernel gradient described above.

  `equation` has two operands, activation first, e.g. 'BLD,DNH->BLNH'; every kernel axis is
  either contracted or kept in the output, and the activation's other axes (batch, length)
  appear in the output. The signature matches `nnx.Einsum(einsum_op=...)`; `precision` and
  `out_sharding` must be None (the defaults).
  """
  if precision is not None or out_sharding is not None:
    raise ValueError("projection_einsum: precision and out_sharding are not supported; "
                     "leave them None")
  return _einsum(equation, activation, kernel, preferred_element_type)
