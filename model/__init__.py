"""The decoder-only transformer, its config, size accounting and shape rule.

  config.py       ModelConfig (fields of `config.model` in configs/base.py) and validate()
  layers.py       RoPE, token embedding with a float32 `attend`, GQA attention, SwiGLU, RMSNorm
  projection.py   the einsum used by every projection (kernel gradient with fewer transposes)
  attention.py    causal GQA attention: head-major layout, backward from q, k, v, O and lse
  transformer.py  Transformer: embed -> scanned stacked blocks -> final norm -> tied/untied head
  sharding.py     logical axis names and per-parameter logical axes
  counting.py     parameters (total / embedding / non-embedding) and training FLOPs per token
  shapes.py       shape_for_params(target non-embedding N, ShapeRule) and the SIZES table
  parametrization.py  standard or μP: init, learning-rate and forward multipliers by width
"""
from model import counting, parametrization, sharding, shapes
from model.config import ModelConfig
from model.transformer import Transformer

__all__ = ["ModelConfig", "Transformer", "counting", "parametrization", "sharding", "shapes"]
