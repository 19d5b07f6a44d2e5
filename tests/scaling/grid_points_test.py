"""The "points" grid kind: explicit (N, tokens) runs, and a sweep file from `analysis suggest`."""
from absl import flags
from ml_collections import config_flags
import pytest

from analysis.design import suggest
from configs.sweeps import tiny
from scaling import grid


def _points_sweep(points):
  sweep = tiny.get_config()
  sweep.grid.update(kind="points", points=points)
  return sweep


def test_points_expand_through_the_shape_rule():
  sweep = _points_sweep(((20_000, 65_536), (40_000, 131_072)))
  sweep.seeds = (0, 1)
  specs = grid.expand(sweep)
  assert len(specs) == 4
  assert [spec.tokens for spec in specs] == [65_536, 65_536, 131_072, 131_072]
  reference = grid.expand(tiny.get_config())  # sizes 10k, 20k, 40k through the same rule
  by_label = {spec.shape.label: spec.shape for spec in reference}
  assert specs[0].shape == by_label[specs[0].shape.label]
  assert specs[2].shape.non_embedding_params == pytest.approx(40_000, rel=0.5)
  assert all(spec.compute_budget is None for spec in specs)


@pytest.mark.parametrize("points, message", [
    ((), "sweep.grid.points is empty"),
    (((20_000,),), r"sweep.grid.points\[0\]"),
    (((20_000, 65_536), (-1, 65_536)), r"sweep.grid.points\[1\]"),
])
def test_bad_points_name_the_field(points, message):
  with pytest.raises(ValueError, match=message):
    grid.expand(_points_sweep(points))


def test_suggested_sweep_file_loads_like_the_launcher_and_expands(tmp_path):
  source = suggest.sweep_snippet(((20_000, 65_536), (40_000, 131_072)),
                                 "configs/sweeps/tiny.py", note="test")
  path = tmp_path / "suggested_sweep.py"
  path.write_text(source)
  flag_values = flags.FlagValues()
  config_flags.DEFINE_config_file("config", None, "sweep", flag_values=flag_values)
  flag_values(["scaling", f"--config={path}"])
  sweep = flag_values.config
  assert sweep.name == "suggested" and sweep.grid.kind == "points"
  specs = grid.expand(sweep)
  assert [spec.tokens for spec in specs] == [65_536, 131_072]
  assert sweep.base.to_dict() == tiny.get_config().base.to_dict()
