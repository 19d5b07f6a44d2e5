"""A small IsoFLOP sweep on CPU: 3 compute budgets x 4 sizes around each expected optimum.

  python -m scaling --config=configs/sweeps/isoflop_tiny.py --workdir=/tmp/isoflop --dry_run
  python -m scaling --config=configs/sweeps/isoflop_tiny.py --workdir=/tmp/isoflop --max_parallel=2

Budgets are training FLOPs under the 6N convention (N non-embedding): every run trains on
D = C / (6 N) tokens, rounded to whole steps. Sizes come from the shape rule with 16-feature
heads (finer steps at these tiny widths). The learning rate follows a power law of N
(3e-3 at N = 50k, N^-0.25), so larger models train with a smaller peak rate.
"""
import ml_collections

from configs import tiny
from configs.sweeps import base


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  del arg
  sweep = base.get_config()
  sweep.name = "isoflop_tiny"
  sweep.base = tiny.get_config()
  sweep.base.model.update(seq_len=64)
  sweep.base.train.update(batch_size=16, eval_tokens=8192, log_every_steps=32)
  sweep.grid.update(kind="isoflop", compute_budgets=(5e10, 1e11, 2e11), sizes_per_budget=4,
                    size_span=2.5, optimal_tokens_per_param=20.0, flop_convention="6nd",
                    shape_rule={"head_dim": 16, "tolerance": 0.25})
  sweep.hparams.learning_rate.update(rule="power_law", reference_params=5e4,
                                     reference_value=3e-3, exponent=-0.25)
  sweep.schedule.update(warmup_fraction=0.05, evals_per_run=4, checkpoints_per_run=2)
  sweep.launch.update(max_parallel=2, lease_stale_seconds=30.0, heartbeat_seconds=2.0)
  return sweep
