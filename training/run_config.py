"""Resolved run configs: canonical JSON, the config hash (run id), and loading from JSON.

The resolved config is the run's ConfigDict after every override, as plain JSON (tuples become
lists). Its hash, the sha256 of that JSON with sorted keys and no whitespace, identifies a run:
the same hash means the same run.
"""
import hashlib
import json
from typing import Any

import ml_collections

from configs import base


def config_to_dict(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The config as JSON-compatible nested dicts (tuples become lists)."""
  return json.loads(json.dumps(config.to_dict()))


def canonical_json(config: ml_collections.ConfigDict) -> str:
  """Sorted-key, whitespace-free JSON of the resolved config."""
  return json.dumps(config_to_dict(config), sort_keys=True, separators=(",", ":"))


def config_hash(config: ml_collections.ConfigDict) -> str:
  """sha256 (hex) of the canonical JSON of the resolved config."""
  return hashlib.sha256(canonical_json(config).encode()).hexdigest()


def unknown_keys(config: ml_collections.ConfigDict | dict[str, Any],
                 schema: ml_collections.ConfigDict | None = None, prefix: str = "") -> list[str]:
  """Dotted names of keys in `config` that the base schema does not have."""
  schema = base.get_config() if schema is None else schema
  found = []
  for key, value in config.items():
    name = f"{prefix}{key}"
    if key not in schema:
      found.append(name)
    elif isinstance(schema[key], ml_collections.ConfigDict):
      if isinstance(value, (dict, ml_collections.ConfigDict)):
        found.extend(unknown_keys(value, schema[key], f"{name}."))
  return found


def _tuples(value: Any) -> Any:
  if isinstance(value, list):
    return tuple(_tuples(item) for item in value)
  return value


def _like(default: Any, value: Any) -> Any:
  """Converts JSON lists back to the (nested) tuples the schema holds."""
  if isinstance(default, tuple):
    return _tuples(value)
  if isinstance(default, float) and isinstance(value, int):
    return float(value)
  return value


def _update(schema: ml_collections.ConfigDict, values: dict[str, Any], prefix: str) -> None:
  for key, value in values.items():
    if isinstance(schema[key], ml_collections.ConfigDict):
      _update(schema[key], value, f"{prefix}{key}.")
    else:
      schema[key] = _like(schema[key], value)


def config_from_dict(values: dict[str, Any]) -> ml_collections.ConfigDict:
  """The base schema overridden by `values` (a resolved config); unknown keys are an error."""
  config = base.get_config()
  unknown = unknown_keys(values, config)
  if unknown:
    raise ValueError(
        f"unknown config key(s) {', '.join(unknown)}; remove them or add them to configs/base.py")
  _update(config, values, "")
  return config
