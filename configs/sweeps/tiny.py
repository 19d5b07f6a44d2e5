"""A tiny N x D sweep: 3 sizes x 2 token budgets, a few minutes on 2 CPU cores.

  python -m scaling --config=configs/sweeps/tiny.py --workdir=/tmp/tiny_sweep --max_parallel=2
  python -m scaling status --workdir=/tmp/tiny_sweep

Sizes are target non-embedding parameter counts (10k, 20k, 40k: d_model 32 with 1, 2 and 4
layers under the default shape rule) on the synthetic corpus of `configs/tiny.py`. The variant
`:quick` trains a quarter of the tokens (for tests); `:seeds=N` repeats every point with N seeds.
"""
import ml_collections

from configs import parse
from configs import tiny
from configs.sweeps import base


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = parse.parse_arg(arg, quick=False, seeds=1)
  sweep = base.get_config()
  sweep.name = "tiny"
  sweep.base = tiny.get_config()
  sweep.base.model.update(seq_len=64)
  sweep.base.train.update(batch_size=16, eval_tokens=8192, log_every_steps=16)
  sweep.seeds = tuple(range(variant.seeds))
  scale = 4 if variant.quick else 1
  sweep.grid.update(kind="n_by_d", sizes=(10_000, 20_000, 40_000),
                    tokens=(65_536 // scale, 131_072 // scale))
  sweep.schedule.update(warmup_fraction=0.1, evals_per_run=2, checkpoints_per_run=2)
  sweep.launch.update(max_parallel=2, lease_stale_seconds=30.0, heartbeat_seconds=2.0)
  return sweep
