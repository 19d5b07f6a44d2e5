"""Files written whole or not at all, so that a crash never leaves a half-written record.

Every record a reader may take as finished (result.json, fits.json, report.md, sweep.json) goes
through `write_text_atomic`: the bytes go to a unique temporary file beside the target, are
flushed to disk, and replace the target in one `os.replace`. A reader sees the old file or the
new one, never a part. `read_json` is the matching reader: absent is None, and a file that is
not JSON is named in the error.

Temporaries, files or directories (a prepared corpus is built under one and renamed), are named
`temporary_path(target)`: `.NAME.tmp-HOST-PID-ID`, after the host and process that write them.
A killed writer leaves its temporary behind; `remove_stale_temporaries` deletes those whose
writer is gone (see there).
"""
import json
import math
import os
import pathlib
import re
import shutil
import socket
import uuid
from typing import Any

import numpy as np

_TEMPORARY_MARK = ".tmp-"
# `.NAME.tmp-HOST-PID-ID`; temporaries named before HOST was added have none.
_TEMPORARY_OWNER = re.compile(r"(?:(?P<host>.+)-)?(?P<pid>\d+)-[^-]+")


def temporary_path(path: str | pathlib.Path) -> pathlib.Path:
  """A unique temporary name beside `path`, `.NAME.tmp-HOST-PID-ID`, for this process."""
  path = pathlib.Path(path)
  return path.with_name(f".{path.name}{_TEMPORARY_MARK}{socket.gethostname()}-{os.getpid()}-"
                        f"{uuid.uuid4().hex[:8]}")


def write_text_atomic(path: str | pathlib.Path, text: str) -> None:
  """Writes `text` (UTF-8) to `path` through a flushed temporary file and `os.replace`."""
  path = pathlib.Path(path)
  temporary = temporary_path(path)
  try:
    with open(temporary, "w", encoding="utf-8") as stream:
      stream.write(text)
      stream.flush()
      os.fsync(stream.fileno())
    os.replace(temporary, path)
  finally:
    temporary.unlink(missing_ok=True)


def json_safe(value: Any) -> Any:
  """`value` in plain JSON types: numpy arrays and scalars become lists and Python numbers,
  tuples lists, dict keys strings (`str(key)`), and every NaN or infinite float None (JSON has
  no such numbers)."""
  if isinstance(value, (np.ndarray, np.generic)):
    value = value.tolist()
  if isinstance(value, float) and not math.isfinite(value):
    return None
  if isinstance(value, dict):
    return {str(key): json_safe(item) for key, item in value.items()}
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


def process_alive(pid: int) -> bool:
  """Whether a process with this pid exists on this host and is not a zombie."""
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # it runs, as another user
    return True
  try:
    stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
  except OSError:
    return True
  return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def _writer_gone(name: str) -> bool:
  """Whether the writer of the temporary `name` is gone: it names this host (or no host) and a
  pid that runs no live process here, or names no pid at all."""
  owner = _TEMPORARY_OWNER.fullmatch(name.rpartition(_TEMPORARY_MARK)[2])
  if owner is None:
    return True
  return owner["host"] in (None, socket.gethostname()) and not process_alive(int(owner["pid"]))


def remove_stale_temporaries(directory: str | pathlib.Path) -> list[pathlib.Path]:
  """Deletes the temporaries (files or directories) that killed writers left in `directory`;
  returns them.

  A temporary is stale when its name carries no writer, or names this host (or no host) and a
  pid that runs no live process here. A live writer's temporary is kept, and so is another
  host's (a directory shared over the network); two machines with one host name would look
  like one, and a pid reused since only keeps a dead temporary a while longer.
  """
  directory = pathlib.Path(directory)
  if not directory.is_dir():
    return []
  stale = sorted(path for path in directory.glob(f".*{_TEMPORARY_MARK}*")
                 if _writer_gone(path.name))
  for path in stale:
    if path.is_dir() and not path.is_symlink():
      shutil.rmtree(path, ignore_errors=True)
    else:
      path.unlink(missing_ok=True)
  return stale
