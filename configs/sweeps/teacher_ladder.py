"""A ladder on the teacher language, whose Bayes-optimal loss is known: 6 sizes x 4 budgets.

  python demo.py --workdir=demo_teacher --sweep=configs/sweeps/teacher_ladder.py   # all of it
  python -m scaling --config=configs/sweeps/teacher_ladder.py --workdir=runs/teacher --dry_run

The corpus (data/teacher.py): 32 content ids and an end id, an order-2 chain whose next-token
law is a random 256-unit tanh network of the context with unit scales ~ 1 / k**1.5, documents of
256 tokens on average, 16M tokens generated (no run repeats data). Every result.json carries the
exact floor of the validation windows (`loss_floor`, 2.301 nats/token at seq_len 32), and the
report puts it beside the fitted E.

Grid. Sizes 1.5k-50k non-embedding parameters (d_model 16-48, 1-2 layers of 8-wide heads), one
WSD trunk each, with 20% linear cooldowns to zero learning rate at 500k, 1M, 2M and 4M tokens:
30 runs (6 trunks, 24 branches): the whole demo.py command took 7 min 51 s from a fresh clone
on 2 quiet AMD EPYC cores (12-15 minutes shared with other jobs). seq_len 32
and batch 16 (512 tokens a step: 980 steps at the smallest budget); the learning rate falls
with size as 8e-3 x (N / 1e5)^-0.25.

Measured (2 AMD EPYC cores shared with other jobs; the same runs as this grid, cut from a ladder
that also had 250k-token branches): every run lies 0.3-3.1% above the floor, and loss falls with
D at every size. Approach 3 (200 resamples of whole trunks) recovers the floor: E = 2.3017
against 2.3009 (+0.04%), and E's interval (0.960, 2.307) covers it; it predicts the 6 runs at
1.8x the largest training compute or more within 0.24% (mean), all inside their intervals. The
fresh-clone run of the whole grid (1000 resamples): E = 2.307 (+0.26%), at its upper bound (the
smallest loss), its interval (0.93, 2.31) covering the floor; held-out runs within 0.10% (mean).
It is NOT identifiable: N matters little at these sizes (at 4M tokens 1.2% above the floor at
1.7k parameters, 0.3% at
55k), so alpha's interval is (0.006, 1.52). What did not work: an order-3 teacher (its best runs
flatten out and E lands 0.5% above the floor, its interval missing it), branches of 250k tokens
(the 3k and 7k models had not yet learnt the context: 14-15% above the floor), and cooldowns to
10% of the peak learning rate (15-25% more excess at 4M tokens). The report draws the loss above
the floor against N and against D with the fit (`excess_over_floor.png`). A slow test trains a
3 x 3 corner of this grid (1.5k, 6k, 25k x 0.5M, 1M, 2M) and checks E within 1% of the floor
(this machine: -0.12%). `:sizes=`, `:tokens=`
(`+`-separated), `:decay=` and `:order=` change the grid and the teacher.
"""
import ml_collections

from configs import base as run_base
from configs import parse
from configs.sweeps import base


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = parse.parse_arg(arg, sizes="1500+3000+6000+12000+25000+50000",
                            tokens="500e3+1e6+2e6+4e6", decay=1.5, order=2)
  sweep = base.get_config()
  sweep.name = "teacher_ladder"
  sweep.base = run_base.get_config()
  sweep.base.model.update(seq_len=32, vocab_size=40)
  sweep.base.data.update(corpus="synthetic", synthetic_kind="teacher", synthetic_vocab=33,
                         synthetic_order=variant.order, synthetic_teacher_width=256,
                         synthetic_teacher_decay=variant.decay, synthetic_teacher_scale=3.0,
                         synthetic_tokens=16_000_000, synthetic_document_tokens=256.0)
  sweep.base.train.update(batch_size=16, eval_tokens=65_536, log_every_steps=500)
  sweep.base.optimizer.update(schedule="wsd", final_lr_fraction=0.0)
  sweep.grid.update(kind="ladder", sizes=tuple(int(s) for s in variant.sizes.split("+")),
                    tokens=tuple(int(float(t)) for t in variant.tokens.split("+")),
                    tokens_per_param=(), decay_fraction=0.2, decay_shape="linear",
                    size_tolerance=0.25,
                    shape_rule=dict(head_dim=8, ffn_multiple=8, aspect_ratio=24.0, tolerance=0.25))
  sweep.hparams.learning_rate.update(rule="power_law", reference_params=1e5,
                                     reference_value=8e-3, exponent=-0.25)
  sweep.schedule.update(warmup_fraction=0.05, evals_per_run=2, checkpoints_per_run=1)
  sweep.launch.update(max_parallel=2)
  return sweep
