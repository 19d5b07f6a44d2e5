"""Per-size hyperparameters: a value for each run from a named rule of its size.

Rules (the fields of `sweep.hparams.<name>` in `configs/sweeps/base.py`):
  * `base`: the base run config's value, for every size;
  * `table`: an explicit value per size label (`n1m`, ...); a missing label is an error;
  * `power_law`: reference_value x (N / reference_params) ** exponent, N = non-embedding params;
  * `steplaw`, `deepseek`, `olmo`: the published laws of `scaling.published_hparams`, each in
    its own N, D or C convention (a batch size from tokens to sequences of the run's seq_len,
    rounded to `multiple_of`); outside the range a law was fitted on it is extrapolated, and the
    launcher prints a warning naming the range (`range_warnings`);
  * `search` (learning rate only): a grid of learning rates is trained per size on the cheapest
    budget first and the rest of the sweep trains with the fitted law (`scaling.lr_search`);
    until then the `power_law` fields (or the base value, when `reference_value` is 0) give the
    grid's centre.
"""
import ml_collections

from scaling import published_hparams

SEARCH = "search"
RULES = ("base", "table", "power_law", *published_hparams.LAWS, SEARCH)
MIN_SEARCH_VALUES = 3


def check_rule(name: str, rule: ml_collections.ConfigDict) -> None:
  """Raises ValueError when `sweep.hparams.<name>` is not a usable rule."""
  if rule.rule not in RULES:
    raise ValueError(
        f"sweep.hparams.{name}.rule={rule.rule!r} is unknown; use one of {', '.join(RULES)}")
  if rule.rule == "power_law" and (rule.reference_value <= 0 or rule.reference_params <= 0):
    raise ValueError(
        f"sweep.hparams.{name}: power_law needs reference_value > 0 and reference_params > 0 "
        f"(got {rule.reference_value}, {rule.reference_params})")
  if rule.rule == "table" and not rule.table:
    raise ValueError(f"sweep.hparams.{name}.table is empty; give a value per size label")
  if rule.rule == SEARCH:
    _check_search(name, rule)


def _check_search(name: str, rule: ml_collections.ConfigDict) -> None:
  if name != published_hparams.LEARNING_RATE:
    raise ValueError(f"sweep.hparams.{name}.rule='search' is for the learning rate only; use "
                     "another rule for the batch size")
  if rule.search_values < MIN_SEARCH_VALUES:
    raise ValueError(
        f"sweep.hparams.{name}.search_values={rule.search_values}: a log-quadratic needs at "
        f"least {MIN_SEARCH_VALUES} learning rates per size; use 5 (the default)")
  if rule.search_factor <= 1:
    raise ValueError(f"sweep.hparams.{name}.search_factor={rule.search_factor} must be > 1 "
                     "(the ratio of neighbouring learning rates; 2 is usual)")
  if rule.search_every < 1 or rule.search_extensions < 0:
    raise ValueError(
        f"sweep.hparams.{name}: search_every={rule.search_every} must be >= 1 and "
        f"search_extensions={rule.search_extensions} >= 0")
  if rule.reference_value < 0 or rule.reference_params <= 0:
    raise ValueError(
        f"sweep.hparams.{name}: the search's centre needs reference_value >= 0 (0: the base "
        f"value) and reference_params > 0 (got {rule.reference_value}, {rule.reference_params})")


def value_for_size(name: str, rule: ml_collections.ConfigDict, *, size_label: str,
                   non_embedding_params: int, base_value: float,
                   point: published_hparams.Point | None = None) -> float:
  """The hyperparameter `name` for one size (labels as in the run table); a published rule
  needs the run's `point` and gives a batch size in tokens. `search` gives its grid's centre."""
  check_rule(name, rule)
  if rule.rule == "base" or (rule.rule == SEARCH and rule.reference_value == 0):
    return base_value
  if rule.rule == "table":
    if size_label not in rule.table:
      raise ValueError(
          f"sweep.hparams.{name}.table has no entry for size {size_label!r}; "
          f"add it (labels present: {sorted(rule.table.keys())})")
    return rule.table[size_label]
  if rule.rule in published_hparams.LAWS:
    if point is None:
      raise ValueError(f"sweep.hparams.{name}.rule={rule.rule!r} needs the run's size and "
                       "budget")
    return published_hparams.value(rule.rule, name, point)
  return rule.reference_value * (non_embedding_params / rule.reference_params) ** rule.exponent


def batch_size_for_size(rule: ml_collections.ConfigDict, *, size_label: str,
                        non_embedding_params: int, base_value: int,
                        point: published_hparams.Point | None = None) -> int:
  """The global batch size (sequences) for one size; power_law values, and published laws'
  tokens over the run's seq_len, round to `multiple_of`."""
  value = value_for_size("batch_size", rule, size_label=size_label,
                         non_embedding_params=non_embedding_params, base_value=base_value,
                         point=point)
  if rule.rule in published_hparams.LAWS:
    value = value / point.seq_len
  if rule.rule == "power_law" or rule.rule in published_hparams.LAWS:
    multiple = int(rule.multiple_of)
    value = max(multiple, int(round(value / multiple)) * multiple)
  if int(value) != value or value <= 0:
    raise ValueError(
        f"sweep.hparams.batch_size gives {value} sequences for size {size_label!r}; "
        f"batch sizes must be positive integers")
  return int(value)


def range_warnings(sweep: ml_collections.ConfigDict,
                   points: list[published_hparams.Point]) -> list[str]:
  """One warning line per published rule of the sweep applied outside its fitted range."""
  lines = []
  for name in (published_hparams.LEARNING_RATE, published_hparams.BATCH_SIZE):
    law = sweep.hparams[name].rule
    if law in published_hparams.LAWS:
      line = published_hparams.range_warning(name, law, points)
      if line:
        lines.append(line)
  return lines
