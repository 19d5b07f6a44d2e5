"""A μP sweep whose base width is above a size's d_model stops before any run starts."""
import io

import pytest

from configs.sweeps import tiny
from scaling import estimate, launch


def test_a_base_width_above_a_size_stops_the_sweep_before_anything_starts(tmp_path):
  sweep = tiny.get_config("quick")
  sweep.base.model.update(parametrization="mup", mup_base_width=4096)
  with pytest.raises(ValueError, match=r"^sweep.grid.sizes\[0\]=\S+ gives an invalid model: "
                                       r"model.mup_base_width=4096 is larger than "
                                       r"model.d_model=\d+: muP scales up from a smaller base "
                                       r"model; set model.mup_base_width to at most \d+$"):
    launch.dry_run(sweep, tmp_path / "sweep", max_parallel=1,
                   throughput=estimate.Throughput(1e9, 0.0, "given"), stream=io.StringIO())
  assert not (tmp_path / "sweep").exists()
