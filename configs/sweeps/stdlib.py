"""Real text: three IsoFLOP budgets on the Python standard library, byte-level, 2 CPU cores.

  python demo.py --workdir=demo_stdlib --sweep=configs/sweeps/stdlib.py   # all of it, ~8 min
  python -m scaling --config=configs/sweeps/stdlib.py --workdir=demo_stdlib --dry_run

This was the demo's default sweep before the known-floor ladder (configs/sweeps/demo.py); it is
kept as the one-command run on real text.

Design. Three IsoFLOP budgets C = 5e10, 1.5e11, 4.5e11 training FLOPs (C = 6 N D, N the
non-embedding parameters, D tokens), a factor 3 apart so that they span one decade, with four
sizes per budget log-spaced over a factor 9 (N*/3 .. 3 N*) around N* = sqrt(C / (6 x 200)), so
each budget covers about 20 to 2,000 tokens per parameter: 2.5k-55k parameters, d_model 8-48,
1-5 layers of 8-wide heads (the coarse shape rule at these sizes needs head size 8 and a 20%
size tolerance). The largest budget is held out by the extrapolation check: Approach 3 is
refitted on the other eight runs and predicts its four.

Why these sizes. Two probes measured where the optimum lies (batch 16 x 128 tokens, the
learning rate below). Centred on 5 tokens per parameter (N = 12k-300k, C = 1e11 and 2.15e11)
the loss rose monotonically with N at both budgets; centred on 100 (N = 3k-76k, C = 5e10 and
1.5e11) the best runs were 3k-5k parameters at 5e10 (930 and 230 tokens per parameter, 0.01
nats apart, the minimum at the grid's edge) and 9k at 1.5e11 (310 tokens per parameter, an
interior minimum). With at most a few thousand optimizer steps per run the loss is limited by
steps, so the loss falls steeply with D and compute-optimal models are tiny and trained on
hundreds of tokens per parameter. The grid is centred on 200 tokens per parameter so that every
IsoFLOP parabola has its minimum inside the sampled sizes, as Approach 2 needs. The learning
rate falls with size as 4e-3 x (N / 1e5)^-0.25 (1e-2 at 2.5k, 5e-3 at 55k), with 5% warmup and
cosine decay to 10% over each run.

What is identifiable. Approach 2's N_opt(C) and D_opt(C) exponents, from three minima over one
decade of C, with wide intervals. Approach 3's alpha and beta, because each budget spans two
decades of D/N; the irreducible loss E is not: the best loss here (~1.6 nats/byte) is far above
any plausible entropy of Python source, so E trades off against A and B (see the report's
warnings). This step-limited regime of tiny models is not the Chinchilla regime: its exponents
and optimal tokens per parameter describe these models on this corpus, not large models.

Cost. About 7.9e12 exact training FLOPs (attention and output head included: 2-3x 6N at these
sizes) and 20k optimizer steps in all; two runs train at a time (`launch.max_parallel`).
Measured on 2 shared cores with other jobs running (load average 7-9): the 12 runs took about
11 minutes and the fit and report 40 s; from a fresh clone on a quiet machine the whole
`make demo` took 368 s (BENCHMARKS.md). The same design gave interior minima at
all three budgets, Approaches 1-3 N_opt exponents of 0.53-0.62, and a held-out error of 1.8%
(mean) on the largest budget. `:budgets=K` keeps the first K budgets and `:scale=S`
multiplies every budget (for quick checks).
"""
import ml_collections

from configs import base as run_base
from configs import parse
from configs.sweeps import base

# Training FLOPs (6 x non-embedding N x D) of the IsoFLOP budgets.
COMPUTE_BUDGETS = (5e10, 1.5e11, 4.5e11)


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = parse.parse_arg(arg, budgets=0, scale=1.0)
  sweep = base.get_config()
  sweep.name = "stdlib"
  sweep.base = run_base.get_config()
  sweep.base.model.update(seq_len=128)
  sweep.base.data.update(corpus="stdlib", tokenizer="byte")
  sweep.base.train.update(batch_size=16, eval_tokens=32_768, log_every_steps=100)
  sweep.base.optimizer.update(schedule="cosine", final_lr_fraction=0.1)
  budgets = COMPUTE_BUDGETS[:variant.budgets] if variant.budgets else COMPUTE_BUDGETS
  sweep.grid.update(
      kind="isoflop", compute_budgets=tuple(c * variant.scale for c in budgets),
      sizes_per_budget=4, size_span=3.0, optimal_tokens_per_param=200.0, flop_convention="6nd",
      size_tolerance=0.2,
      shape_rule=dict(head_dim=8, ffn_multiple=8, aspect_ratio=24.0, tolerance=0.2))
  sweep.hparams.learning_rate.update(rule="power_law", reference_params=1e5,
                                     reference_value=4e-3, exponent=-0.25)
  sweep.schedule.update(warmup_fraction=0.05, evals_per_run=4, checkpoints_per_run=1)
  sweep.launch.update(max_parallel=2)
  sweep.analysis.update(resamples=300)
  return sweep
