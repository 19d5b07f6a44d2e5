"""The schemas of run and sweep configs: plain JSON, the config hash, unknown keys, loading.

A config is a ConfigDict holding the fields of its schema: `RUN` (every field of one training
run, `configs/base.py`) or `SWEEP` (every field of a sweep, `configs/sweeps/base.py`, whose
`base` is a run config). Conventions:
  * JSON: `config_to_dict` is the config as plain nested dicts; tuples become lists, and
    `Schema.from_dict` turns them back into the tuples the schema holds.
  * Hash: `config_hash` is the sha256 (hex) of the canonical JSON (sorted keys, no whitespace)
    less `UNHASHED_SECTIONS` (where metrics are sent changes no result). The same hash means
    the same run: a run's id ends with the hash of its resolved config. It is composed from
    the canonical JSON of each top-level field (`hash_of_fields`), so configs that share
    sections can hash each shared one once (scaling.grid.RunConfigs). A field added after run
    ids were first pinned (`LATER_FIELDS`) enters the hash only when it is set away from its
    default, so that adding a field renames no run of an existing sweep.
  * Unknown keys: a key the schema does not declare is an error naming it with its dotted path
    (`train.batchsize`). A field whose default is an empty dict (`grid.shape_rule`, a per-size
    `table`, `launch.resources`) is an open map: its keys are checked by the code that reads it.
"""
import dataclasses
import functools
import hashlib
import json
from typing import Any, Callable

import ml_collections

from configs import base as run_base
from configs.sweeps import base as sweep_base

Values = ml_collections.ConfigDict | dict[str, Any]
UNHASHED_SECTIONS = ("logging",)
# Run-config fields added after run ids were first pinned, by section: each is hashed (and is
# part of a sweep's identity) only when it differs from its default in configs/base.py.
LATER_FIELDS = {"data": ("synthetic_teacher_width", "synthetic_teacher_decay",
                         "synthetic_teacher_scale", "synthetic_teacher_embed",
                         "synthetic_teacher_embed_decay"),
                "train": ("steps_per_call",)}


def config_to_dict(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The config as JSON-compatible nested dicts (tuples become lists)."""
  return json.loads(json.dumps(config.to_dict()))


def canonical_json(config: ml_collections.ConfigDict) -> str:
  """Sorted-key, whitespace-free JSON of the config."""
  return json.dumps(config_to_dict(config), sort_keys=True, separators=(",", ":"))


def config_hash(config: ml_collections.ConfigDict) -> str:
  """sha256 (hex) of the canonical JSON of the config without its UNHASHED_SECTIONS, and
  without the LATER_FIELDS that hold their defaults."""
  return hash_of_fields({key: field_json(key, config[key]) for key in config.keys()})


def without_later_defaults(name: str, section: dict[str, Any]) -> dict[str, Any]:
  """Run-config section `name` (plain JSON) less its LATER_FIELDS that equal their defaults."""
  later = LATER_FIELDS.get(name, ())
  defaults = _declared(run_base.get_config).get(name, {})
  return {key: value for key, value in section.items()
          if key not in later or value != defaults[key]}


def field_json(name: str, value: Any) -> str:
  """Canonical JSON (sorted keys, no whitespace) of the value of top-level field `name` of a run
  config, a section (ConfigDict) or a leaf, as its hash reads it."""
  plain = json.loads(json.dumps(
      value.to_dict() if isinstance(value, ml_collections.ConfigDict) else value))
  if isinstance(plain, dict):
    plain = without_later_defaults(name, plain)
  return json.dumps(plain, sort_keys=True, separators=(",", ":"))


def hash_of_fields(fields: dict[str, str]) -> str:
  """`config_hash` of a config given as the `field_json` of each of its top-level fields, by
  name: the canonical JSON of the whole config is these, in name order, in one object."""
  text = ",".join(f"{json.dumps(key)}:{fields[key]}" for key in sorted(fields)
                  if key not in UNHASHED_SECTIONS)
  return hashlib.sha256(f"{{{text}}}".encode()).hexdigest()


@functools.cache
def _declared(defaults: Callable[[], ml_collections.ConfigDict]) -> dict[str, Any]:
  """The fields `defaults()` declares, as nested dicts (read only; built once per schema)."""
  return defaults().to_dict()


def _is_open(field: Any) -> bool:
  """Whether a schema field is an open map (an empty dict or ConfigDict by default)."""
  return isinstance(field, (dict, ml_collections.ConfigDict)) and not field.keys()


def _unknown(values: Values, schema: dict[str, Any], prefix: str) -> list[str]:
  found = []
  for key, value in values.items():
    name = f"{prefix}{key}"
    if key not in schema:
      found.append(name)
    elif (isinstance(schema[key], dict) and not _is_open(schema[key])
          and isinstance(value, (dict, ml_collections.ConfigDict))):
      found.extend(_unknown(value, schema[key], f"{name}."))
  return found


def _tuples(value: Any) -> Any:
  if isinstance(value, list):
    return tuple(_tuples(item) for item in value)
  return value


def _like(default: Any, value: Any) -> Any:
  """A JSON value in the type of the schema's default: (nested) tuples, int as float."""
  if isinstance(default, tuple):
    return _tuples(value)
  if isinstance(default, float) and isinstance(value, int):
    return float(value)
  return value


def _update(config: ml_collections.ConfigDict, values: dict[str, Any]) -> None:
  for key, value in values.items():
    if isinstance(config[key], ml_collections.ConfigDict) and not _is_open(config[key]):
      _update(config[key], value)
    else:
      config[key] = _like(config[key], value)


@dataclasses.dataclass(frozen=True)
class Schema:
  """A kind of config: its defaults and the file that declares its fields."""
  kind: str                                         # named in errors: "config", "sweep config"
  defaults: Callable[[], ml_collections.ConfigDict]  # every field with its default
  source: str                                       # the file to add a new field to

  def unknown_keys(self, values: Values) -> list[str]:
    """Dotted names of the keys in `values` that the schema does not declare."""
    return _unknown(values, _declared(self.defaults), "")

  def unknown_in(self, value: Any, key: str) -> list[str]:
    """Dotted names of the undeclared keys within the top-level field `key` holding `value`
    (`[key]` when the field itself is undeclared); `unknown_keys` is these, field by field."""
    return _unknown({key: value}, _declared(self.defaults), "")

  def check(self, values: Values) -> None:
    """Raises ValueError naming every key of `values` that the schema does not declare."""
    self.refuse(self.unknown_keys(values))

  def refuse(self, unknown: list[str]) -> None:
    """Raises `check`'s ValueError for the undeclared keys `unknown`; nothing when empty."""
    if unknown:
      raise ValueError(f"unknown {self.kind} key(s) {', '.join(unknown)}; fix the spelling or "
                       f"add them to {self.source}")

  def from_dict(self, values: dict[str, Any]) -> ml_collections.ConfigDict:
    """The defaults overridden by `values` (JSON, e.g. a run's config.json); checked first."""
    self.check(values)
    config = self.defaults()
    _update(config, values)
    return config


RUN = Schema("config", run_base.get_config, "configs/base.py")
SWEEP = Schema("sweep config", sweep_base.get_config, "configs/sweeps/base.py")
