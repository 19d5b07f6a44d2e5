"""The demo sweep: three IsoFLOP budgets on the Python standard library, byte-level, 2 CPU cores.

  python -m scaling demo --workdir=demo_out        # prepare, train, fit, report (<= ~12 min)
  python -m scaling --config=configs/sweeps/demo.py --workdir=demo_out --dry_run

Design. Three IsoFLOP budgets C = 5e10, 1.5e11, 4.5e11 training FLOPs (C = 6 N D, N the
non-embedding parameters, D tokens), a factor 3 apart so the budgets span one decade, with five
sizes per budget log-spaced over a factor 9 (N*/3 .. 3 N*) around N* = sqrt(C / (6 x 100)):
1.5 decades of tokens per parameter per budget (about 10 to 1000). The largest budget is the
held-out set of the extrapolation check; the other ten runs fit it.

Why these sizes. A probe of this sweep at 1e11 and 2.15e11 FLOPs centred on 5 tokens per
parameter (N = 12k-300k) found the loss rising monotonically with N at every budget: at batch
16 x 128 tokens the large models got 36-700 optimizer steps and were limited by steps, so the
best run was the smallest, at 64-118 tokens per parameter. Approach 2 needs each parabola's
minimum inside the sampled sizes, so the grid is centred on 100 tokens per parameter and uses
sizes from 3k to 76k (d_model 16-56, 1-3 layers, head size 8; the shape rule's smallest shapes
are coarse, hence head size 8 and a 20% size tolerance). The learning rate falls with size as
4e-3 x (N / 1e5)^-0.25 (~1e-2 at 3k), with 5% warmup and cosine decay to 10% over each run.

What is identifiable. Approach 2 (the N_opt(C) and D_opt(C) exponents) from three minima over
one decade of C, with wide intervals. Approach 3's alpha and beta are constrained because each
budget spans a wide D/N range; the irreducible loss E is not: the best loss here (~1.8
nats/byte) is far above any plausible entropy of Python source, so E trades off against A and
B (see the report's warnings). The regime is tiny and step-limited
(hundreds to a few thousand steps), not the Chinchilla regime: its exponents and the tokens per
parameter at the optimum describe these models on this corpus, not large language models.

Cost. On a quiet 2-core machine a run costs roughly 10 s of start-up, compilation and
evaluation plus its exact training FLOPs (attention and output head included: 2-3x 6N for
these small models) at ~30 GFLOP/s, about 6 minutes for the 15 runs. Two runs train at a time (`launch.max_parallel`). `:budgets=K` keeps the
first K budgets and `:scale=S` multiplies every budget (for quick checks).
"""
import ml_collections

from configs import base as run_base
from configs import parse
from configs.sweeps import base

# Training FLOPs (6 x non-embedding N x D) of the four IsoFLOP budgets.
COMPUTE_BUDGETS = (5e10, 1.5e11, 4.5e11)


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = parse.parse_arg(arg, budgets=0, scale=1.0)
  sweep = base.get_config()
  sweep.name = "demo"
  sweep.base = run_base.get_config()
  sweep.base.model.update(seq_len=128)
  sweep.base.data.update(corpus="stdlib", tokenizer="byte")
  sweep.base.train.update(batch_size=16, eval_tokens=32_768, log_every_steps=100)
  sweep.base.optimizer.update(schedule="cosine", final_lr_fraction=0.1)
  budgets = COMPUTE_BUDGETS[:variant.budgets] if variant.budgets else COMPUTE_BUDGETS
  sweep.grid.update(
      kind="isoflop", compute_budgets=tuple(c * variant.scale for c in budgets),
      sizes_per_budget=5, size_span=3.0, optimal_tokens_per_param=100.0, flop_convention="6n",
      size_tolerance=0.2,
      shape_rule=dict(head_dim=8, ffn_multiple=8, aspect_ratio=24.0, tolerance=0.2))
  sweep.hparams.learning_rate.update(rule="power_law", reference_params=1e5,
                                     reference_value=4e-3, exponent=-0.25)
  sweep.schedule.update(warmup_fraction=0.05, evals_per_run=4, checkpoints_per_run=1)
  sweep.launch.update(max_parallel=2)
  sweep.analysis_resamples = 300
  return sweep
