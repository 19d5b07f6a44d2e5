"""How init scales, learning rates and two forward multipliers depend on width: standard or μP.

`model.parametrization="standard"` is the model as it always was: every weight matrix starts at
`init_std` (residual outputs at init_std / sqrt(2 n_layers)) whatever the width, every parameter
shares the optimizer's learning rate, attention logits are scaled by 1/sqrt(head size) and the
logits leave the head unscaled.

`model.parametrization="mup"` is the maximal-update parametrisation for Adam (Yang et al. 2022,
"Tensor Programs V", arXiv:2203.03466), in the form of the authors' `mup` package (an output
multiplier 1/m rather than a 1/fan_in^2 readout init; attention logits ~ 1/head size), relative
to a base model of width `model.mup_base_width` at which it equals the standard one exactly.
With the width multiplier m = d_model / mup_base_width:

  role (by logical axes)                     init std           Adam LR    forward
  hidden, >= 2 width axes (q, k, v, o,       standard/sqrt(m)   peak / m   -
    gate, up, down kernels)
  vector-like, <= 1 width axis (embedding,   standard           peak       -
    norm scales, untied head)
  output logits (tied or untied head)        -                  -          x 1/m
  attention logits                           -                  -          x sqrt(H_b) / H

Width axes are the logical names in `WIDTH_AXES` (model/sharding.py's vocabulary); 'vocab' and
'layers' are not widths. The base model has every width (d_model, d_ff, heads x head size)
divided by m and the same depth. H is the head size and H_b the base model's
(`model.mup_base_head_dim`, 0 for the model's own: heads are added at a fixed size, as
model/shapes.py's rule does, and the attention scale stays 1/sqrt(H)). The learning-rate
multiplier scales the whole AdamW update of a parameter, its decoupled weight decay included
(as a per-parameter learning rate does). Yang et al. also start the queries and the readout at
zero; here they keep the standard init, so that the base model is the standard one.
"""
import math
from typing import Any

import jax
from flax import nnx

from model.config import ModelConfig

WIDTH_AXES = frozenset({"embed", "mlp", "heads", "kv_heads", "head_dim"})


def is_mup(config: ModelConfig) -> bool:
  """Whether the model uses μP."""
  return config.parametrization == "mup"


def width_multiplier(config: ModelConfig) -> float:
  """m = d_model / mup_base_width under μP; 1 under the standard parametrisation."""
  return config.d_model / config.mup_base_width if is_mup(config) else 1.0


def is_hidden(variable: nnx.Variable) -> bool:
  """Whether a parameter is a hidden matrix: two or more of its logical axes are widths."""
  names = getattr(variable, "out_sharding", None) or ()
  return sum(name in WIDTH_AXES for name in names) >= 2


def learning_rate_multipliers(config: ModelConfig, params: nnx.State) -> Any:
  """A pytree of floats (a prefix of `params`): each parameter's learning rate / the peak."""
  multiplier = 1.0 / width_multiplier(config)
  return jax.tree.map(lambda variable: multiplier if is_hidden(variable) else 1.0, params,
                      is_leaf=lambda x: isinstance(x, nnx.Variable))


def rescale_init(config: ModelConfig, model: nnx.Module) -> None:
  """Multiplies the freshly initialised hidden matrices of `model` by 1/sqrt(m), in place (a
  normal draw of std s times c is a normal draw of std c*s); nothing under the standard
  parametrisation."""
  if not is_mup(config):
    return
  factor = 1.0 / math.sqrt(width_multiplier(config))
  for _, variable in nnx.iter_graph(model):
    if isinstance(variable, nnx.Param) and is_hidden(variable):
      variable[...] = variable[...] * factor


def attention_scale(config: ModelConfig) -> float:
  """The factor on query-key dot products: 1/sqrt(H) * sqrt(H_b / H), which is 1/sqrt(H) under
  the standard parametrisation (H_b = H) and sqrt(H_b) / H under μP."""
  base_head_dim = (config.mup_base_head_dim or config.head_dim) if is_mup(config) else (
      config.head_dim)
  return 1.0 / math.sqrt(config.head_dim) * math.sqrt(base_head_dim / config.head_dim)


def output_multiplier(config: ModelConfig) -> float:
  """The factor on the output logits: 1/m (1 under the standard parametrisation)."""
  return 1.0 / width_multiplier(config)
