"""Variant strings for config files: `--config=configs/tiny.py:size=s2,steps=10`."""
from typing import Any

import ml_collections


def _convert(text: str, default: Any, key: str) -> Any:
  if isinstance(default, bool):
    if text.lower() in ("1", "true", "yes"):
      return True
    if text.lower() in ("0", "false", "no"):
      return False
    raise ValueError(f"config variant {key}={text!r}: expected a boolean (true/false)")
  if default is None or isinstance(default, str):
    return text
  try:
    return type(default)(float(text)) if isinstance(default, int) else type(default)(text)
  except ValueError as error:
    raise ValueError(
        f"config variant {key}={text!r}: expected {type(default).__name__}") from error


def parse_arg(arg: str | None, **defaults: Any) -> ml_collections.ConfigDict:
  """Parses 'k=v,k2=v2' into a ConfigDict typed by `defaults`; unknown keys are an error.

  A bare word `w` (no '=') sets a boolean default named `w` to True.
  """
  result = ml_collections.ConfigDict(defaults)
  if not arg:
    return result
  for item in arg.split(","):
    if not item:
      continue
    key, sep, value = item.partition("=")
    if key not in defaults:
      raise ValueError(
          f"config variant {key!r} is unknown; known variants: {sorted(defaults)}")
    if not sep:
      if not isinstance(defaults[key], bool):
        raise ValueError(f"config variant {key!r} needs a value: {key}=...")
      result[key] = True
    else:
      result[key] = _convert(value, defaults[key], key)
  return result
