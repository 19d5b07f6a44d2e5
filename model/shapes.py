"""Model shapes for a target non-embedding parameter count, and the named size table.

The shape rule (`ShapeRule`): the head size is fixed and d_model = n_heads x head_dim; there are
n_heads / kv_group key-value heads; d_ff is ffn_ratio x d_model rounded to the nearest multiple of
ffn_multiple (at least one multiple). Among all (n_heads, n_layers) whose non-embedding parameter
count (model.counting convention) lies within `tolerance` (relative) of the target, the rule picks
the one whose aspect ratio d_model / n_layers is closest to `aspect_ratio` in log space (ties:
closest count). The vocabulary does not enter: non-embedding counts do not depend on it.
"""
import dataclasses
import math

from model import counting
from model.config import ModelConfig


@dataclasses.dataclass(frozen=True)
class ShapeRule:
  """Parameters of the shape rule (see the module docstring).

  Attributes:
    aspect_ratio: preferred d_model / n_layers (Kaplan et al. 2020 found loss flat over ~20-200).
    head_dim: features per attention head.
    kv_group: query heads per key-value head (1: multi-head attention).
    ffn_ratio: d_ff / d_model before rounding (8/3 keeps SwiGLU at the cost of a 4x GELU MLP).
    ffn_multiple: d_ff is a multiple of this.
    tolerance: largest accepted |N / target - 1| for the non-embedding count N.
    max_heads: largest n_heads searched.
    max_layers: largest n_layers searched.
  """
  aspect_ratio: float = 32.0
  head_dim: int = 32
  kv_group: int = 1
  ffn_ratio: float = 8.0 / 3.0
  ffn_multiple: int = 64
  tolerance: float = 0.1
  max_heads: int = 256
  max_layers: int = 256


def d_ff_for(d_model: int, rule: ShapeRule) -> int:
  """SwiGLU width for d_model under `rule`: ffn_ratio x d_model rounded to ffn_multiple."""
  multiples = max(1, round(rule.ffn_ratio * d_model / rule.ffn_multiple))
  return multiples * rule.ffn_multiple


def _shape(n_heads: int, n_layers: int, rule: ShapeRule) -> dict[str, int]:
  d_model = n_heads * rule.head_dim
  return dict(d_model=d_model, n_layers=n_layers, n_heads=n_heads,
              n_kv_heads=n_heads // rule.kv_group, d_ff=d_ff_for(d_model, rule))


def non_embedding_params(shape: dict[str, int]) -> int:
  """Non-embedding parameters (scalars) of a shape dict (model.counting convention)."""
  return counting.param_counts(ModelConfig(vocab_size=1, **shape))["non_embedding"]


def shape_for_params(target_non_embedding: float, rule: ShapeRule = ShapeRule()
                     ) -> dict[str, int]:
  """Model fields {d_model, n_layers, n_heads, n_kv_heads, d_ff} for a target non-embedding count.

  Raises ValueError when the target is not positive or no shape under `rule` lies within its
  tolerance (e.g. a target below one layer of one head group).
  """
  if not target_non_embedding > 0:
    raise ValueError(f"target_non_embedding={target_non_embedding!r}: must be positive")
  if rule.head_dim < 2 or rule.head_dim % 2:
    raise ValueError(f"rule.head_dim={rule.head_dim}: must be a positive even number (RoPE)")
  best_key, best_shape = None, None
  for n_heads in range(rule.kv_group, rule.max_heads + 1, rule.kv_group):
    one_layer = non_embedding_params(_shape(n_heads, 1, rule))
    final_norm = n_heads * rule.head_dim
    per_layer = one_layer - final_norm
    nearest_layers = round((target_non_embedding - final_norm) / per_layer)
    for n_layers in (nearest_layers - 1, nearest_layers, nearest_layers + 1):
      if not 1 <= n_layers <= rule.max_layers:
        continue
      shape = _shape(n_heads, n_layers, rule)
      deviation = abs(non_embedding_params(shape) / target_non_embedding - 1.0)
      if deviation > rule.tolerance:
        continue
      aspect_error = abs(math.log(shape["d_model"] / n_layers / rule.aspect_ratio))
      key = (round(aspect_error, 12), deviation)
      if best_key is None or key < best_key:
        best_key, best_shape = key, shape
  if best_shape is None:
    raise ValueError(
        f"target_non_embedding={target_non_embedding:.4g}: no shape within "
        f"tolerance={rule.tolerance} under {rule}; lower head_dim or raise tolerance")
  return best_shape


SIZE_TARGETS = {
    "n100k": 1e5, "n300k": 3e5, "n1m": 1e6, "n3m": 3e6, "n10m": 1e7, "n30m": 3e7,
    "n100m": 1e8, "n300m": 3e8, "n1b": 1e9,
}

# The named sizes: shape_for_params(SIZE_TARGETS[name]) under the default ShapeRule, written out.
# Names give the target non-embedding count; the achieved count is within 10% of it.
SIZES: dict[str, dict[str, int]] = {
    "n100k": dict(d_model=64, n_layers=2, n_heads=2, n_kv_heads=2, d_ff=192),
    "n300k": dict(d_model=64, n_layers=6, n_heads=2, n_kv_heads=2, d_ff=192),
    "n1m": dict(d_model=128, n_layers=5, n_heads=4, n_kv_heads=4, d_ff=320),
    "n3m": dict(d_model=192, n_layers=7, n_heads=6, n_kv_heads=6, d_ff=512),
    "n10m": dict(d_model=288, n_layers=10, n_heads=9, n_kv_heads=9, d_ff=768),
    "n30m": dict(d_model=416, n_layers=14, n_heads=13, n_kv_heads=13, d_ff=1088),
    "n100m": dict(d_model=640, n_layers=20, n_heads=20, n_kv_heads=20, d_ff=1728),
    "n300m": dict(d_model=928, n_layers=29, n_heads=29, n_kv_heads=29, d_ff=2496),
    "n1b": dict(d_model=1376, n_layers=43, n_heads=43, n_kv_heads=43, d_ff=3648),
}
