"""Per-size hyperparameters: a value for each run from a named rule of its size.

Rules (the fields of `sweep.hparams.<name>` in `configs/sweeps/base.py`):
  * `base`: the base run config's value, for every size;
  * `table`: an explicit value per size label (`n1m`, ...); a missing label is an error;
  * `power_law`: reference_value x (N / reference_params) ** exponent, N = non-embedding params.
"""
import ml_collections

RULES = ("base", "table", "power_law")


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


def value_for_size(name: str, rule: ml_collections.ConfigDict, *, size_label: str,
                   non_embedding_params: int, base_value: float) -> float:
  """The hyperparameter `name` for one size (labels as in the run table)."""
  check_rule(name, rule)
  if rule.rule == "base":
    return base_value
  if rule.rule == "table":
    if size_label not in rule.table:
      raise ValueError(
          f"sweep.hparams.{name}.table has no entry for size {size_label!r}; "
          f"add it (labels present: {sorted(rule.table.keys())})")
    return rule.table[size_label]
  return rule.reference_value * (non_embedding_params / rule.reference_params) ** rule.exponent


def batch_size_for_size(rule: ml_collections.ConfigDict, *, size_label: str,
                        non_embedding_params: int, base_value: int) -> int:
  """The global batch size (sequences) for one size; power_law values round to `multiple_of`."""
  value = value_for_size("batch_size", rule, size_label=size_label,
                         non_embedding_params=non_embedding_params, base_value=base_value)
  if rule.rule == "power_law":
    multiple = int(rule.multiple_of)
    value = max(multiple, int(round(value / multiple)) * multiple)
  if int(value) != value or value <= 0:
    raise ValueError(
        f"sweep.hparams.batch_size gives {value} sequences for size {size_label!r}; "
        f"batch sizes must be positive integers")
  return int(value)
