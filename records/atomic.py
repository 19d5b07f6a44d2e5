"""Files written whole or not at all, so that a crash never leaves a half-written record.

Every record a reader may take as finished (result.json, fits.json, report.md, sweep.json) goes
through `write_text_atomic`: the bytes go to a unique temporary file beside the target, are
flushed to disk, and replace the target in one `os.replace`. A reader sees the old file or the
new one, never a part; a killed writer leaves at most a `.NAME.tmp-*` file, which
`remove_stale_temporaries` clears. `read_json` is the matching reader: absent is None, and a
file that is not JSON is named in the error.
"""
import json
import math
import os
import pathlib
import uuid
from typing import Any

_TEMPORARY_MARK = ".tmp-"


def write_text_atomic(path: str | pathlib.Path, text: str) -> None:
  """Writes `text` (UTF-8) to `path` through a flushed temporary file and `os.replace`."""
  path = pathlib.Path(path)
  temporary = path.with_name(f".{path.name}{_TEMPORARY_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")
  try:
    with open(temporary, "w", encoding="utf-8") as stream:
      stream.write(text)
      stream.flush()
      os.fsync(stream.fileno())
    os.replace(temporary, path)
  finally:
    temporary.unlink(missing_ok=True)


def json_safe(value: Any) -> Any:
  """`value` with every NaN or infinite float replaced by None (JSON has no such numbers)."""
  if isinstance(value, float) and not math.isfinite(value):
    return None
  if isinstance(value, dict):
    return {key: json_safe(item) for key, item in value.items()}
  if isinstance(value, (list, tuple)):
    return [json_safe(item) for item in value]
  return value


def write_json_atomic(path: str | pathlib.Path, payload: Any) -> None:
  """Writes `payload` as indented, sorted, strictly valid JSON to `path`, atomically."""
  text = json.dumps(json_safe(payload), indent=2, sort_keys=True, allow_nan=False)
  write_text_atomic(path, text + "\n")


def read_json(path: str | pathlib.Path) -> Any | None:
  """The parsed JSON at `path`, or None when the file does not exist.

  Raises ValueError naming the file when it is not valid JSON.
  """
  try:
    return json.loads(pathlib.Path(path).read_text())
  except FileNotFoundError:
    return None
  except json.JSONDecodeError as error:
    raise ValueError(f"{path} is not valid JSON ({error.msg} at line {error.lineno}); restore "
                     f"it or delete it") from None


def remove_stale_temporaries(directory: str | pathlib.Path) -> list[pathlib.Path]:
  """Deletes the temporary files that killed writers left in `directory`; returns them."""
  directory = pathlib.Path(directory)
  if not directory.is_dir():
    return []
  stale = [path for path in directory.glob(f".*{_TEMPORARY_MARK}*") if path.is_file()]
  for path in stale:
    path.unlink(missing_ok=True)
  return stale
