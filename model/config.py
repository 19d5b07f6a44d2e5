"""ModelConfig: the shape and numerics of one decoder-only transformer, with validation.

The fields mirror `config.model` in `configs/base.py`. Sizes are counts (tokens, features, heads);
`dtype` is the compute dtype of activations and matmuls, `param_dtype` the storage dtype of the
parameters. Logits are always float32.
"""
import dataclasses
import numbers
from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
PARAMETRIZATIONS = ("standard", "mup")  # see model/parametrization.py

_POSITIVE_INTS = ("vocab_size", "d_model", "n_layers", "n_heads", "n_kv_heads", "d_ff", "seq_len")
_POSITIVE_FLOATS = ("rope_theta", "norm_eps", "init_std")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Shape and numerics of a Llama-style decoder-only transformer.

  Attributes:
    vocab_size: rows of the token embedding (and columns of the output head).
    d_model: width of the residual stream, in features.
    n_layers: number of transformer blocks.
    n_heads: query heads; `d_model // n_heads` is the head size.
    n_kv_heads: key/value heads (grouped-query attention when < n_heads); divides n_heads.
    d_ff: hidden width of the SwiGLU MLP (each of its three matrices is d_model x d_ff).
    seq_len: context window, in tokens.
    rope_theta: base of the rotary position embedding frequencies.
    norm_eps: epsilon added to the mean square in RMSNorm.
    tie_embeddings: whether the output head reuses the token embedding matrix.
    init_std: standard deviation of the normal initializer for embeddings and input projections;
      the residual-output projections use init_std / sqrt(2 * n_layers).
    dtype: compute dtype name, "float32" or "bfloat16".
    param_dtype: parameter storage dtype name, "float32" or "bfloat16".
    parametrization: "standard", or "mup" (Yang et al. 2022): init scales, learning rates and
      the attention and output multipliers follow the width (model/parametrization.py).
    mup_base_width: mup: the d_model at which μP equals the standard parametrisation (where its
      hyperparameters were tuned), 1..d_model; 0 under "standard".
    mup_base_head_dim: mup: the base model's head size, 1..head_dim; 0 for this model's own
      (heads added at a fixed size). 0 under "standard".
  """
  vocab_size: int = 264
  d_model: int = 64
  n_layers: int = 2
  n_heads: int = 4
  n_kv_heads: int = 4
  d_ff: int = 192
  seq_len: int = 128
  rope_theta: float = 10_000.0
  norm_eps: float = 1e-6
  tie_embeddings: bool = True
  init_std: float = 0.02
  dtype: str = "float32"
  param_dtype: str = "float32"
  parametrization: str = "standard"
  mup_base_width: int = 0
  mup_base_head_dim: int = 0

  @classmethod
  def from_config_dict(cls, config_model: Mapping[str, Any]) -> "ModelConfig":
    """Builds a ModelConfig from `config.model` (a ConfigDict or a dict); unknown keys raise."""
    values = dict(config_model.items())
    known = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
      raise ValueError(f"config.model has unknown fields {unknown}; known fields: {sorted(known)}")
    return cls(**values)

  @property
  def head_dim(self) -> int:
    """Features per attention head: d_model // n_heads."""
    return self.d_model // self.n_heads

  @property
  def compute_dtype(self) -> jnp.dtype:
    """The jnp dtype of activations and matmul operands."""
    return DTYPES[self.dtype]

  @property
  def parameter_dtype(self) -> jnp.dtype:
    """The jnp dtype parameters are stored in."""
    return DTYPES[self.param_dtype]

  def validate(self) -> "ModelConfig":
    """Raises ValueError naming the first bad field and how to fix it; returns self when valid."""
    for name in _POSITIVE_INTS:
      value = getattr(self, name)
      if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"model.{name}={value!r}: must be a positive integer")
    for name in _POSITIVE_FLOATS:
      value = getattr(self, name)
      if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"model.{name}={value!r}: must be a positive number")
    if not isinstance(self.tie_embeddings, bool):
      raise ValueError(f"model.tie_embeddings={self.tie_embeddings!r}: must be true or false")
    for name in ("dtype", "param_dtype"):
      if getattr(self, name) not in DTYPES:
        raise ValueError(
            f"model.{name}={getattr(self, name)!r}: must be one of {sorted(DTYPES)}")
    if self.d_model % self.n_heads:
      raise ValueError(
          f"model.d_model={self.d_model} is not divisible by model.n_heads={self.n_heads}: "
          "choose n_heads dividing d_model")
    if self.n_heads % self.n_kv_heads:
      raise ValueError(
          f"model.n_kv_heads={self.n_kv_heads} does not divide model.n_heads={self.n_heads}: "
          "choose n_kv_heads dividing n_heads")
    if self.head_dim % 2:
      raise ValueError(
          f"model head size d_model/n_heads={self.head_dim} is odd: rotary embeddings need an "
          "even head size; change d_model or n_heads")
    self._validate_parametrization()
    return self

  def _validate_parametrization(self) -> None:
    if self.parametrization not in PARAMETRIZATIONS:
      raise ValueError(f"model.parametrization={self.parametrization!r}: must be one of "
                       f"{', '.join(repr(name) for name in PARAMETRIZATIONS)}")
    for name, largest in (("mup_base_width", self.d_model),
                          ("mup_base_head_dim", self.head_dim)):
      value = getattr(self, name)
      if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"model.{name}={value!r}: must be a non-negative integer")
      if self.parametrization == "standard" and value:
        raise ValueError(
            f"model.{name}={value} is read only with model.parametrization='mup'; remove it "
            f"(set it to 0) or set model.parametrization='mup'")
      if value > largest:
        limit = "model.d_model" if name == "mup_base_width" else "the head size d_model/n_heads"
        raise ValueError(
            f"model.{name}={value} is larger than {limit}={largest}: muP scales up from a "
            f"smaller base model; set model.{name} to at most {largest}")
    if self.parametrization == "mup" and not self.mup_base_width:
      raise ValueError(
          "model.parametrization='mup' needs model.mup_base_width, the d_model its "
          f"hyperparameters were tuned at; set it to a width of at most {self.d_model}")
