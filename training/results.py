"""The run's record files: `config.json` at the start and `result.json` last, both atomic.

`result.json` is the only 'run finished' signal for tools outside the project: it is written
once, at the very end, through a temporary file and `os.replace`. Its keys, units and status
values are records.result's and records.status's.
"""
import json
import pathlib
import platform
import subprocess
from typing import Any

import flax
import jax
import optax

from records import layout
from records import status as status_lib
from records.result import Key, write_result

# The loop's status of a launch that stopped with a checkpoint saved: returned to the caller
# only, never written to result.json (whose statuses are records.status.RunStatus).
STATUS_PREEMPTED = "preempted"


def write_failure(workdir: str | pathlib.Path, config_dict: dict[str, Any] | None,
                  message: str, traceback_text: str | None = None) -> bool:
  """Writes result.json with status 'failed', the one-line `message` and, for a run that failed
  (rather than one refused before it started), its `traceback_text`.

  Writes nothing when the workdir belongs to a different run (its config.json differs from
  `config_dict`, or is not JSON). Returns whether it wrote; raises OSError when it cannot.
  """
  workdir = pathlib.Path(workdir)
  existing = workdir / layout.CONFIG_FILE
  if existing.exists():
    try:
      if json.loads(existing.read_text()) != config_dict:
        return False
    except ValueError:
      return False
  workdir.mkdir(parents=True, exist_ok=True)
  record = {Key.STATUS: status_lib.RunStatus.FAILED, Key.ERROR: message, Key.CONFIG: config_dict,
            Key.CODE_VERSION: code_version(), Key.VERSIONS: versions()}
  if traceback_text is not None:
    record[Key.TRACEBACK] = traceback_text
  write_result(workdir, record)
  return True


def versions() -> dict[str, str]:
  """Versions of the numerical stack."""
  return {"jax": jax.__version__, "flax": flax.__version__, "optax": optax.__version__}


def machine() -> str:
  """The CPU model and this process's devices, e.g. 'AMD EPYC (family 25, model 1) | cpu x1'
  (what a loss's last bits depend on besides the code and the versions)."""
  model = platform.processor() or platform.machine()
  try:
    fields = dict(line.split(":", 1) for line in
                  pathlib.Path("/proc/cpuinfo").read_text().split("\n\n")[0].splitlines()
                  if ":" in line)
    fields = {name.strip(): value.strip() for name, value in fields.items()}
    model = (f"{fields['model name']} (family {fields.get('cpu family', '?')}, "
             f"model {fields.get('model', '?')})")
  except (OSError, KeyError):
    pass
  devices = jax.local_devices()
  kind = devices[0].device_kind if devices[0].platform != "cpu" else "cpu"
  return f"{model} | {kind} x{len(devices)}"


def code_version() -> str | None:
  """The git commit of the project checkout (with '-dirty' for local changes), or None."""
  root = pathlib.Path(__file__).resolve().parents[1]
  try:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                            text=True, check=True, timeout=10).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                           capture_output=True, text=True, check=True, timeout=10).stdout.strip()
  except (OSError, subprocess.SubprocessError):
    return None
  return f"{commit}-dirty" if dirty else commit
