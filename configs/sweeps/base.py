"""The base sweep config: every field of a sweep, with its default and unit.

A sweep is a base run config (`base`, the schema of `configs/base.py`) plus a grid that
`scaling.grid.expand` turns into runs. Sweep files start from `get_config()` here, set `base`
and the grid, and are launched with

  python -m scaling --config=configs/sweeps/<name>.py --workdir=SWEEP

Every key of a sweep is declared here: a sweep holding any other key is refused, by name
(`configs.schema.SWEEP`).

Grid kinds:
  * `n_by_d`: every size in `grid.sizes` crossed with every budget in `grid.tokens` (tokens)
    or in `grid.tokens_per_param` (tokens per non-embedding parameter); give one of the two.
  * `ladder`: the `n_by_d` grid trained as one WSD trunk per size (and seed) with a cooldown
    branch per budget (scaling/ladder.py; `grid.decay_fraction`, `grid.decay_shape`).
  * `isoflop`: for every compute budget C in `grid.compute_budgets` (training FLOPs), take
    `grid.sizes_per_budget` target sizes log-spaced over [N*/span, N* x span] around the
    expected optimum N* = sqrt(C / (6 x optimal_tokens_per_param)) and train each on
    D = C / (training FLOPs per token) tokens, C counted as `grid.flop_convention` says: '6nd'
    (6 x N, with N the `grid.n_convention` count) or 'exact' (attention and output head
    included); the names are records/conventions.py's, as in `python -m analysis`.
  * `points`: explicit runs, `grid.points = ((N, tokens), ...)` with N a target
    non-embedding parameter count (through the shape rule, like `sizes`) and tokens the run's
    D (e.g. the runs `python -m analysis suggest` names).
Sizes are names from `model.shapes.SIZES` or target non-embedding parameter counts, which the
shape rule (`model.shapes.shape_for_params`) turns into a shape. Every token budget is rounded
to a whole number of optimizer steps (batch_size x seq_len tokens).
"""
import ml_collections

from configs import base as run_base
from records import conventions


def _rule() -> ml_collections.ConfigDict:
  """A per-size hyperparameter rule; 'base' keeps the base run config's value."""
  return ml_collections.ConfigDict(dict(
      rule="base",             # base | table | power_law | steplaw | deepseek | olmo
                               #   (published laws, scaling/published_hparams.py) | search
                               #   (learning rate only: scaling/lr_search.py)
      table={},                # table: size label -> value; labels as in the run table: a
                               #   SIZES name, or n<N> for a target (N achieved; n10p3k = 10.3k)
      reference_params=1e6,    # power_law: value = reference_value x (N / reference_params)
      reference_value=0.0,     #   ** exponent, with N the non-embedding parameter count
      exponent=0.0,
  ))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  del arg
  sweep = ml_collections.ConfigDict()
  sweep.name = "sweep"
  sweep.base = run_base.get_config()   # the run config every run starts from
  sweep.seeds = (0,)                   # each grid point is trained once per seed

  sweep.grid = ml_collections.ConfigDict(dict(
      kind="n_by_d",                   # n_by_d | ladder | isoflop | points
      sizes=(),                        # n_by_d: size names or target non-embedding params
      tokens=(),                       # n_by_d: token budgets (tokens)
      tokens_per_param=(),             # n_by_d: budgets as tokens per non-embedding param
      compute_budgets=(),              # isoflop: training FLOPs per run
      sizes_per_budget=5,              # isoflop: sizes per budget
      size_span=4.0,                   # isoflop: sizes span [N*/span, N* x span]
      optimal_tokens_per_param=20.0,   # isoflop: D/N at the expected optimum (Chinchilla: ~20)
      flop_convention=conventions.C_6ND,  # isoflop: 6nd | exact, how C counts (D = C / per token)
      n_convention=conventions.N_NON_EMBEDDING,  # isoflop: non_embedding | total, N of C = 6ND
      points=(),                       # points: (target non-embedding params, tokens) pairs
      size_tolerance=0.5,              # max relative miss of the shape rule on a target N
      decay_fraction=0.2,              # ladder / ladder_sizes: each branch decays over this x D
      decay_shape="linear",            # ladder / ladder_sizes: linear | 1-sqrt
      ladder_sizes=(),                 # isoflop: snap target sizes onto these (non-embedding
                                       #   params) and branch the runs off one trunk per size
      shape_rule={},                   # model.shapes.ShapeRule fields, e.g. {"aspect_ratio": 16}
  ))

  # Per-size hyperparameters (N = non-embedding params of the run's shape).
  learning_rate = _rule()
  learning_rate.update(dict(           # search: the power_law fields give the grid's centre
      search_values=5,                 # learning rates per searched size (at least 3)
      search_factor=2.0,               # ratio of neighbouring learning rates in the grid
      search_every=1,                  # search every k-th size (sizes ordered by N)
      search_extensions=2,             # times a grid is extended past an edge optimum
  ))
  batch_size = _rule()
  batch_size.multiple_of = 8           # power_law and published-law batch sizes round to this
  sweep.hparams = ml_collections.ConfigDict(dict(
      learning_rate=learning_rate,     # sets base.optimizer.peak_learning_rate
      batch_size=batch_size,           # sets base.train.batch_size (sequences)
  ))

  # Budgets that scale with each run's tokens D (0 keeps the base config's value, in tokens).
  sweep.schedule = ml_collections.ConfigDict(dict(
      warmup_fraction=0.0,             # warmup_tokens = fraction x D (whole steps)
      evals_per_run=0,                 # eval_every_tokens = D / evals_per_run (whole steps)
      checkpoints_per_run=0,           # ckpt_every_tokens = D / checkpoints_per_run
  ))

  sweep.launch = ml_collections.ConfigDict(dict(
      max_parallel=1,                  # local backend: runs at a time (--max_parallel overrides)
      gpus_per_run=0,                  # local backend: >0 gives each run its own GPUs
      max_retries=2,                   # relaunches of a crashed run (divergence is never retried)
      lease_stale_seconds=60.0,        # a lease without heartbeat for this long is taken over
      heartbeat_seconds=5.0,
      num_cpus=1.0,                    # ray backend: resources each run task declares
      num_gpus=0.0,
      resources={},                    # ray backend: custom resources, e.g. {"TPU": 4}
      # Processes (hosts) that form one run, one multi-process jax program. Ray: one placement
      # group bundle per host, each with num_cpus / num_gpus / resources above, on distinct
      # nodes; local backend: that many train.py processes on this machine.
      hosts_per_run=1,
      devices_per_host=0,              # local backend, hosts_per_run > 1: devices of each (0: all)
      tpu_topology="",                 # ray backend on TPU VMs: the slice, e.g. "2x2x4" ...
      tpu_version="",                  # ... of this generation, e.g. "v4" (see scaling/ray_gang.py)
  ))

  # How the sweep's results are fitted (`python demo.py`); not part of the runs' identity.
  sweep.analysis = ml_collections.ConfigDict(dict(
      resamples=1000,                  # bootstrap refits per law
      holdout_flops=0.0,               # held-out check: predict runs at C >= this (FLOPs, 6ND;
                                       #   0: the largest IsoFLOP budget) ...
      holdout_gap=1.0,                 # ... from a fit on the runs with C < holdout_flops / this
      rollout_forms=("chinchilla", "overtraining"),  # laws compared on held-out runs
  ))
  return sweep
