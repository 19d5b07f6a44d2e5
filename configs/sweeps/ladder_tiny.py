"""A tiny ladder: 2 sizes x 3 token budgets as 2 WSD trunks with 6 cooldown branches.

  python -m scaling --config=configs/sweeps/ladder_tiny.py --workdir=/tmp/ladder --dry_run
  python -m scaling --config=configs/sweeps/ladder_tiny.py --workdir=/tmp/ladder

The sizes, corpus and batch of `configs/sweeps/tiny.py`; each size trains one constant-LR
trunk to the last branch point (0.8 x the largest budget) and each budget decays off it over
its last 20% (linear). `--dry_run` prints the FLOPs with and without branching.
"""
import ml_collections

from configs.sweeps import tiny


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  sweep = tiny.get_config(arg)
  sweep.name = "ladder_tiny"
  sweep.grid.update(kind="ladder", sizes=(10_000, 20_000), tokens=(),
                    tokens_per_param=(2.0, 4.0, 8.0), decay_fraction=0.2, decay_shape="linear")
  return sweep
