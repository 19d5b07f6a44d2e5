"""The shape rule hits its targets and the size table spans 1e5..1e9 non-embedding parameters."""
import math

import pytest

from model import ModelConfig, shapes


@pytest.mark.parametrize("target", [1e5, 2.2e5, 7e5, 4e6, 1.5e7, 6e7, 2.5e8, 1e9, 2e9])
def test_shape_for_params_hits_target_within_tolerance(target):
  shape = shapes.shape_for_params(target)
  achieved = shapes.non_embedding_params(shape)
  assert abs(achieved / target - 1) <= shapes.ShapeRule().tolerance
  rule = shapes.ShapeRule()
  assert shape["d_model"] == shape["n_heads"] * rule.head_dim
  assert shape["d_ff"] % rule.ffn_multiple == 0
  ModelConfig(**shape).validate()


def test_rule_prefers_the_aspect_ratio_among_shapes_within_tolerance():
  rule = shapes.ShapeRule(aspect_ratio=64.0, head_dim=64, kv_group=2, tolerance=0.05)
  shape = shapes.shape_for_params(1e8, rule)
  assert shape["n_kv_heads"] * 2 == shape["n_heads"]
  chosen_error = abs(math.log(shape["d_model"] / shape["n_layers"] / 64.0))
  for n_heads in range(2, 64, 2):
    for n_layers in range(1, 64):
      d_model = n_heads * 64
      other = dict(d_model=d_model, n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_heads // 2,
                   d_ff=shapes.d_ff_for(d_model, rule))
      if abs(shapes.non_embedding_params(other) / 1e8 - 1) <= 0.05:
        assert abs(math.log(other["d_model"] / n_layers / 64.0)) >= chosen_error - 1e-12


def test_d_ff_rounds_to_multiple():
  rule = shapes.ShapeRule()
  assert shapes.d_ff_for(64, rule) == 192   # 170.7 -> 3 x 64
  assert shapes.d_ff_for(16, rule) == 64    # at least one multiple
  assert shapes.d_ff_for(1376, rule) == 3648


def test_size_table_is_the_rule_applied_and_spans_1e5_to_1e9():
  assert list(shapes.SIZES) == list(shapes.SIZE_TARGETS)
  counts = []
  for name, shape in shapes.SIZES.items():
    assert shape == shapes.shape_for_params(shapes.SIZE_TARGETS[name]), name
    counts.append(shapes.non_embedding_params(shape))
  assert counts == sorted(counts)
  assert counts[0] <= 1.1e5 and counts[-1] >= 0.9e9


@pytest.mark.parametrize("target, rule, message", [
    (0, shapes.ShapeRule(), r"target_non_embedding=0: must be positive"),
    (10.0, shapes.ShapeRule(), r"target_non_embedding=10: no shape within tolerance=0.1"),
    (1e6, shapes.ShapeRule(head_dim=7), r"rule.head_dim=7: must be a positive even number"),
])
def test_bad_targets_raise(target, rule, message):
  with pytest.raises(ValueError, match=message):
    shapes.shape_for_params(target, rule)
