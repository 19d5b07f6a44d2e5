"""Sweep grids -> runs: the pure expansion of a sweep config into a list of `RunSpec`.

Conventions: N is the non-embedding parameter count (`model.counting`), D the tokens a run
trains on, FLOPs are training FLOPs (forward + backward); an IsoFLOP budget C is counted under
`grid.flop_convention` and `grid.n_convention` (records.conventions). Every D is rounded to a
whole number of optimizer steps of `batch_size x seq_len` tokens (`training.budget`). See
`configs/sweeps/base.py` for the fields.
"""
import dataclasses
import functools
import math
from typing import Any

import ml_collections

from configs import schema
from model import ModelConfig, counting, shapes
from records import conventions
from scaling import hparams, published_hparams
from scaling.tables import format_count
from training import budget

GRID_KINDS = ("n_by_d", "ladder", "isoflop", "points")


@dataclasses.dataclass(frozen=True)
class Shape:
  """One model size: its label, the model fields it sets and its exact counts."""
  label: str                   # a SIZES name, or 'n<N>' for the achieved N: n10p3k = 10.3k
  model_fields: dict[str, Any]
  non_embedding_params: int
  total_params: int
  flops_per_token: dict[str, float]  # training FLOPs/token (model.counting.flops_per_token)

  def training_flops_per_token(self, c_convention: str, n_convention: str) -> int:
    """Training FLOPs per token under the C and N conventions (records.conventions): 6 x N for
    '6nd', the exact count (whatever N) for 'exact'."""
    if c_convention == conventions.C_EXACT:
      return self.flops_per_token[conventions.C_EXACT]
    if n_convention == conventions.N_TOTAL:
      return 6 * self.total_params
    return self.flops_per_token[conventions.C_6ND]


@dataclasses.dataclass(frozen=True)
class RunSpec:
  """One run of a sweep: a shape trained on `tokens` tokens with one seed and its hyperparameters.

  `overrides` maps dotted run-config keys (e.g. 'train.train_tokens') to values; applied to the
  sweep's base config it gives the run's resolved config.
  """
  shape: Shape
  tokens: int
  seed: int
  compute_budget: float | None  # isoflop: the budget C (training FLOPs) the run belongs to
  overrides: dict[str, Any]
  # The grid entries the run comes from (seeds aside), e.g.
  # ('sweep.grid.sizes[0]=10000', 'sweep.grid.tokens[1]=65536').
  source: tuple[str, ...] = ()
  # A branch (scaling/ladder.py): the trunk it decays off, and the tokens where it leaves it.
  trunk: "RunSpec | None" = None
  branch_tokens: int = 0
  configs: "RunConfigs | None" = dataclasses.field(default=None, compare=False,
                                                  repr=False)  # of the sweep's base

  @functools.cached_property
  def config(self) -> ml_collections.ConfigDict:
    """The resolved run config: the sweep's base with `overrides` applied (built once per spec;
    it shares sections with other runs' configs: treat it as read only)."""
    return self.configs.config(self.overrides)

  @functools.cached_property
  def config_hash(self) -> str:
    """`configs.schema.config_hash` of `config` (each shared section's JSON made once)."""
    return self.configs.config_hash(self.config)

  @property
  def is_trunk(self) -> bool:
    """Whether the run is a trunk that branches start from."""
    return bool(self.overrides.get("train.branch_point_tokens"))

  @property
  def spent_flops_exact(self) -> float:
    """Exact training FLOPs the run itself trains: a branch only its decay (D - branch point)."""
    return self.shape.flops_per_token[conventions.C_EXACT] * (self.tokens - self.branch_tokens)

  @property
  def flops_6nd(self) -> float:
    """6 x N (non-embedding) x D, in training FLOPs."""
    return 6.0 * self.shape.non_embedding_params * self.tokens

  @property
  def flops_exact(self) -> float:
    """Exact training FLOPs (attention and output head included) x D."""
    return self.shape.flops_per_token[conventions.C_EXACT] * self.tokens


def apply_overrides(base: ml_collections.ConfigDict,
                    overrides: dict[str, Any]) -> ml_collections.ConfigDict:
  """A copy of `base` with dotted-key `overrides` applied."""
  config = base.copy_and_resolve_references()
  _set(config, overrides)
  return config


def _set(config: ml_collections.ConfigDict, overrides: dict[str, Any]) -> None:
  """Applies dotted-key `overrides` to `config` in place (the ConfigDict's type rules: an int
  for a float field becomes a float, a mismatched type is a TypeError)."""
  for key, value in overrides.items():
    *parents, leaf = key.split(".")
    node = config
    for parent in parents:
      node = node[parent]
    node[leaf] = value


class RunConfigs:
  """The run configs of one sweep base: the base resolved once, and each run's config built from
  it by the run's overrides, equal to `apply_overrides(base, overrides)`.

  A run config shares each of its sections (top-level ConfigDict fields) with every other run
  config whose overrides set the same values in it: the untouched `data` section is one object
  for all runs, the `model` section one per size. Treat run configs as read only.
  """

  def __init__(self, base: ml_collections.ConfigDict):
    self._base = base.copy_and_resolve_references()
    self._fields = tuple(self._base.items())
    self._sections: dict[tuple[str, tuple[tuple[str, str], ...]],
                         ml_collections.ConfigDict] = {}
    # The field values made or kept here, by id (held, so no id is reused), and their JSON.
    self._owned: dict[int, Any] = {id(value): value for _, value in self._fields}
    self._json: dict[int, str] = {}

  def config(self, overrides: dict[str, Any]) -> ml_collections.ConfigDict:
    """The resolved config of the run with dotted-key `overrides`."""
    whole = {key for key in overrides if "." not in key}  # top-level fields set as a whole
    within: dict[str, dict[str, Any]] = {}  # section -> its overrides, keys within it
    others: dict[str, Any] = {}
    for key, value in overrides.items():
      name, _, rest = key.partition(".")
      if rest and name not in whole and isinstance(self._base.get(name),
                                                   ml_collections.ConfigDict):
        within.setdefault(name, {})[rest] = value
      else:
        others[key] = value
    base = self._base
    config = type(base)(type_safe=base.is_type_safe, convert_dict=base.convert_dict,
                        allow_dotted_keys=base.allow_dotted_keys)
    for name, value in self._fields:  # a new top level over the base's sections
      config[name] = value
    for name, section_overrides in within.items():
      config[name] = self._section(name, section_overrides)
    for name in {key.partition(".")[0] for key in others} - set(within):
      if isinstance(self._base.get(name), ml_collections.ConfigDict):
        config[name] = self._base[name].copy_and_resolve_references()
    _set(config, others)
    return config

  def config_hash(self, config: ml_collections.ConfigDict) -> str:
    """`configs.schema.config_hash(config)` of a config built here: the JSON of each field
    this object made or kept from the base is made once."""
    return schema.hash_of_fields({name: self._field_json(name, value)
                                  for name, value in config.items()})

  def _field_json(self, name: str, value: Any) -> str:
    """`schema.field_json(name, value)`, kept for the base's fields and the sections made
    here."""
    text = self._json.get(id(value))
    if text is None:
      text = schema.field_json(name, value)
      if id(value) in self._owned:
        self._json[id(value)] = text
    return text

  def _section(self, name: str, overrides: dict[str, Any]) -> ml_collections.ConfigDict:
    """The base's section `name` with `overrides` applied: one object per distinct overrides."""
    key = (name, tuple((field, repr(value)) for field, value in overrides.items()))
    if key not in self._sections:
      section = self._base[name].copy_and_resolve_references()
      _set(section, overrides)
      self._sections[key] = self._owned[id(section)] = section
    return self._sections[key]


def _shape(base_model: ml_collections.ConfigDict, size: str | int, field: str,
           tolerance: float, rule: shapes.ShapeRule) -> Shape:
  """The shape of a named size or of a target non-embedding N under the shape rule."""
  if isinstance(size, str):
    if size not in shapes.SIZES:
      raise ValueError(
          f"{field}={size!r} is not a named size; use a target non-embedding parameter count "
          f"or one of {sorted(shapes.SIZES)}")
    label, fields = size, dict(shapes.SIZES[size])
  else:
    if size <= 0:
      raise ValueError(f"{field}={size} must be a positive non-embedding parameter count")
    try:
      fields = dict(shapes.shape_for_params(int(size), rule))
    except ValueError as error:
      raise ValueError(f"{field}={size}: the shape rule cannot meet it ({error})") from error
  merged = base_model.to_dict()
  merged.update({key: value for key, value in fields.items() if key in merged})
  model_config = ModelConfig.from_config_dict(merged)
  try:
    model_config.validate()
  except ValueError as error:
    raise ValueError(f"{field}={size!r} gives an invalid model: {error}") from error
  counts = counting.param_counts(model_config)
  if not isinstance(size, str):
    miss = abs(counts["non_embedding"] - size) / size
    if miss > tolerance:
      raise ValueError(
          f"{field}={size}: the shape rule cannot meet it (nearest shape has "
          f"{counts['non_embedding']} non-embedding params, {miss:.0%} off, above "
          f"grid.size_tolerance={tolerance}); choose another size or raise the tolerance")
  if not isinstance(size, str):
    label = "n" + format_count(counts["non_embedding"]).replace(".", "p")
  model_fields = {key: merged[key] for key in fields if key in merged}
  return Shape(label=label, model_fields=model_fields,
               non_embedding_params=int(counts["non_embedding"]),
               total_params=int(counts["total"]),
               flops_per_token=dict(counting.flops_per_token(model_config)))


def cadence(schedule: ml_collections.ConfigDict, tokens: int,
            tokens_per_step: int) -> dict[str, int]:
  """The evaluation and checkpoint intervals (tokens, whole steps) of a run of `tokens` tokens,
  per `sweep.schedule`: overrides for `train.eval_every_tokens` and `train.ckpt_every_tokens`."""
  intervals = {}
  if schedule.evals_per_run > 0:
    intervals["train.eval_every_tokens"] = budget.round_to_steps(
        tokens / schedule.evals_per_run, tokens_per_step, minimum_steps=1)
  if schedule.checkpoints_per_run > 0:
    intervals["train.ckpt_every_tokens"] = budget.round_to_steps(
        tokens / schedule.checkpoints_per_run, tokens_per_step, minimum_steps=1)
  return intervals


def _run(sweep: ml_collections.ConfigDict, configs: RunConfigs, shape: Shape, tokens: float,
         seed: int, compute_budget: float | None, field: str, source: tuple[str, ...]) -> RunSpec:
  base = sweep.base
  point = published_point(base.model, shape, tokens)
  learning_rate = hparams.value_for_size(
      "learning_rate", sweep.hparams.learning_rate, size_label=shape.label,
      non_embedding_params=shape.non_embedding_params,
      base_value=base.optimizer.peak_learning_rate, point=point)
  batch_size = hparams.batch_size_for_size(
      sweep.hparams.batch_size, size_label=shape.label,
      non_embedding_params=shape.non_embedding_params, base_value=base.train.batch_size,
      point=point)
  seq_len = point.seq_len
  tokens_per_step = batch_size * seq_len
  if tokens < tokens_per_step:
    raise ValueError(
        f"{field} gives {tokens:.6g} tokens, below one step of {tokens_per_step} tokens "
        f"(batch_size x seq_len); raise the budget or lower the batch size")
  train_tokens = budget.round_to_steps(tokens, tokens_per_step)
  overrides = {f"model.{key}": value for key, value in shape.model_fields.items()}
  overrides.update({
      "seed": seed,
      "optimizer.peak_learning_rate": float(learning_rate),
      "train.batch_size": batch_size,
      "train.train_tokens": train_tokens,
  })
  schedule = sweep.schedule
  if schedule.warmup_fraction > 0:
    overrides["train.warmup_tokens"] = budget.round_to_steps(
        schedule.warmup_fraction * train_tokens, tokens_per_step)
  overrides.update(cadence(schedule, train_tokens, tokens_per_step))
  spec = RunSpec(shape=shape, tokens=train_tokens, seed=int(seed),
                 compute_budget=compute_budget, overrides=overrides, source=source,
                 configs=configs)
  try:
    budget.compute_budget(spec.config)
  except ValueError as error:
    raise ValueError(f"{field} (size {shape.label}): {error}") from error
  return spec


def published_point(base_model: ml_collections.ConfigDict, shape: Shape,
                    tokens: float) -> published_hparams.Point:
  """What the published hyperparameter laws read of a run of `shape` on `tokens` tokens."""
  def field(name: str) -> int:
    return int(shape.model_fields.get(name, base_model[name]))
  return published_hparams.Point(
      non_embedding_params=shape.non_embedding_params, total_params=shape.total_params,
      tokens=float(tokens), n_layers=field("n_layers"), d_model=field("d_model"),
      seq_len=field("seq_len"))


def shape_rule(sweep: ml_collections.ConfigDict) -> shapes.ShapeRule:
  """The shape rule for target sizes: model.shapes.ShapeRule with `sweep.grid.shape_rule` set."""
  fields = dict(sweep.grid.shape_rule)
  known = {field.name for field in dataclasses.fields(shapes.ShapeRule)}
  unknown = sorted(set(fields) - known)
  if unknown:
    raise ValueError(f"sweep.grid.shape_rule has unknown fields {unknown}; known: {sorted(known)}")
  return shapes.ShapeRule(**fields)


def smallest_params(rule: shapes.ShapeRule) -> int:
  """Non-embedding params of the smallest shape under `rule`: one layer of one head group."""
  d_model = rule.kv_group * rule.head_dim
  return shapes.non_embedding_params(dict(
      d_model=d_model, n_layers=1, n_heads=rule.kv_group, n_kv_heads=1,
      d_ff=shapes.d_ff_for(d_model, rule)))


def check_no_repeats(field: str, entries: Any) -> None:
  """Raises ValueError naming the first entry of the list `field` that repeats an earlier one."""
  first_index: dict[Any, int] = {}
  for index, entry in enumerate(entries):
    key = tuple(entry) if isinstance(entry, (list, tuple)) else entry
    if key in first_index:
      text = f"{entry:g}" if isinstance(entry, float) else repr(entry)
      raise ValueError(
          f"{field}[{index}]={text} repeats {field}[{first_index[key]}]; remove the "
          f"duplicate (each grid entry is one run per seed)")
    first_index[key] = index


def check_sweep(sweep: ml_collections.ConfigDict) -> None:
  """Raises ValueError (one line naming the field and the fix) on a malformed sweep."""
  grid = sweep.grid
  if grid.kind not in GRID_KINDS:
    raise ValueError(f"sweep.grid.kind={grid.kind!r} is unknown; use one of {GRID_KINDS}")
  check_no_repeats("sweep.seeds", sweep.seeds)
  for name in ("sizes", "tokens", "tokens_per_param", "compute_budgets", "points"):
    check_no_repeats(f"sweep.grid.{name}", grid[name])
  if not sweep.seeds:
    raise ValueError("the grid is empty: sweep.seeds is empty; list at least one seed")
  if grid.kind in ("n_by_d", "ladder"):
    if not grid.sizes:
      raise ValueError("the grid is empty: sweep.grid.sizes is empty; list at least one size")
    if bool(grid.tokens) == bool(grid.tokens_per_param):
      raise ValueError(
          "the grid is empty or ambiguous: give exactly one of sweep.grid.tokens (tokens) "
          "or sweep.grid.tokens_per_param (tokens per non-embedding parameter)")
  elif grid.kind == "points":
    if not grid.points:
      raise ValueError("the grid is empty: sweep.grid.points is empty; list (N, tokens) pairs")
    for index, point in enumerate(grid.points):
      if len(point) != 2 or not all(isinstance(v, (int, float)) and v > 0 for v in point):
        raise ValueError(
            f"sweep.grid.points[{index}]={point!r} must be a pair (target non-embedding "
            "params, tokens) of positive numbers")
  else:
    if not grid.compute_budgets:
      raise ValueError(
          "the grid is empty: sweep.grid.compute_budgets is empty; list FLOP budgets")
    if grid.sizes_per_budget < 1 or grid.size_span < 1:
      raise ValueError(
          f"sweep.grid.sizes_per_budget={grid.sizes_per_budget} must be >= 1 and "
          f"sweep.grid.size_span={grid.size_span} must be >= 1")
    if grid.flop_convention not in conventions.C_CONVENTIONS:
      raise ValueError(
          f"sweep.grid.flop_convention={grid.flop_convention!r} is unknown; use one of "
          f"{', '.join(conventions.C_CONVENTIONS)}")
    if grid.n_convention not in conventions.N_CONVENTIONS:
      raise ValueError(
          f"sweep.grid.n_convention={grid.n_convention!r} is unknown; use one of "
          f"{', '.join(conventions.N_CONVENTIONS)}")
    if grid.optimal_tokens_per_param <= 0:
      raise ValueError("sweep.grid.optimal_tokens_per_param must be positive (Chinchilla: 20)")
  for name in ("learning_rate", "batch_size"):
    hparams.check_rule(name, sweep.hparams[name])
  shape_rule(sweep)


def isoflop_targets(compute_budget: float, sizes_per_budget: int, size_span: float,
                    optimal_tokens_per_param: float) -> list[float]:
  """Target non-embedding N log-spaced over [N*/span, N* x span], N* = sqrt(C / (6 r))."""
  optimal_params = math.sqrt(compute_budget / (6.0 * optimal_tokens_per_param))
  if sizes_per_budget == 1:
    return [optimal_params]
  log_low, log_high = math.log(optimal_params / size_span), math.log(optimal_params * size_span)
  step = (log_high - log_low) / (sizes_per_budget - 1)
  return [math.exp(log_low + index * step) for index in range(sizes_per_budget)]


def _expand_n_by_d(sweep: ml_collections.ConfigDict,
                   configs: RunConfigs) -> list[RunSpec]:
  grid = sweep.grid
  runs = []
  for size_index, size in enumerate(grid.sizes):
    shape = _shape(sweep.base.model, size, f"sweep.grid.sizes[{size_index}]",
                   grid.size_tolerance, shape_rule(sweep))
    size_entry = f"sweep.grid.sizes[{size_index}]={size!r}"
    if grid.tokens:
      budgets = [(float(tokens), f"sweep.grid.tokens[{index}]", tokens)
                 for index, tokens in enumerate(grid.tokens)]
    else:
      budgets = [(ratio * shape.non_embedding_params, f"sweep.grid.tokens_per_param[{index}]",
                  ratio) for index, ratio in enumerate(grid.tokens_per_param)]
    for tokens, field, entry in budgets:
      for seed in sweep.seeds:
        runs.append(_run(sweep, configs, shape, tokens, seed, None, field,
                         (size_entry, f"{field}={entry!r}")))
  return runs


def _expand_isoflop(sweep: ml_collections.ConfigDict,
                    configs: RunConfigs) -> list[RunSpec]:
  grid = sweep.grid
  runs = []
  for budget_index, compute_budget in enumerate(grid.compute_budgets):
    field = f"sweep.grid.compute_budgets[{budget_index}]={compute_budget:.3g}"
    if compute_budget <= 0:
      raise ValueError(f"{field} must be a positive number of training FLOPs")
    smallest = smallest_params(shape_rule(sweep))
    targets = isoflop_targets(compute_budget, grid.sizes_per_budget, grid.size_span,
                              grid.optimal_tokens_per_param)
    for target_index, target in enumerate(targets):
      if target < smallest * (1 - grid.size_tolerance):
        raise ValueError(
            f"{field} is too small for the smallest model: it asks for N={target:.3g} "
            f"non-embedding params, the shape rule's smallest has {smallest}; raise the budget "
            f"or lower sweep.grid.size_span")
      if grid.ladder_sizes:
        target = min(grid.ladder_sizes, key=lambda size: abs(math.log(size / target)))
      shape = _shape(sweep.base.model, int(round(target)),
                     f"{field}: target size", grid.size_tolerance, shape_rule(sweep))
      tokens = compute_budget / shape.training_flops_per_token(grid.flop_convention,
                                                               grid.n_convention)
      source = (field, f"target size {target_index + 1} of {len(targets)} "
                       f"(N={format_count(target)})")
      for seed in sweep.seeds:
        runs.append(_run(sweep, configs, shape, tokens, seed, float(compute_budget),
                         f"{field} (too small for size {shape.label})", source))
  return runs


def _expand_points(sweep: ml_collections.ConfigDict,
                   configs: RunConfigs) -> list[RunSpec]:
  grid = sweep.grid
  runs = []
  for index, (size, tokens) in enumerate(grid.points):
    field = f"sweep.grid.points[{index}]"
    shape = _shape(sweep.base.model, int(round(size)), field, grid.size_tolerance,
                   shape_rule(sweep))
    for seed in sweep.seeds:
      runs.append(_run(sweep, configs, shape, float(tokens), seed, None, field,
                       (f"{field}={(size, tokens)!r}",)))
  return runs


def expand(sweep: ml_collections.ConfigDict) -> list[RunSpec]:
  """All runs of a sweep, in grid order; raises ValueError on a bad sweep before any run.

  Literal repeats in the grid's lists are errors; distinct entries that resolve to the same run
  (two target sizes rounding to one shape) each give a spec, which `runs.plan` merges.
  """
  check_sweep(sweep)
  configs = RunConfigs(sweep.base)
  if sweep.grid.kind in ("n_by_d", "ladder"):
    return _expand_n_by_d(sweep, configs)
  if sweep.grid.kind == "points":
    return _expand_points(sweep, configs)
  return _expand_isoflop(sweep, configs)
