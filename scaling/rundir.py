"""The files of a run directory and the run state read from them.

`result.json`, written last and atomically by train.py (or by the runner when train.py could
not), is the only 'done' signal. States: pending (not started, or interrupted and resumable),
running (a live lease), done, diverged, failed.
"""
import dataclasses
import json
import os
import pathlib
from typing import Any

from scaling import lease

SWEEP_FILE = "sweep.json"   # in the sweep directory: the run table
RUNS_DIR = "runs"           # in the sweep directory: one directory per run
CONFIG_FILE = "config.json"
RESULT_FILE = "result.json"
METRICS_FILE = "metrics.jsonl"
TRAIN_LOG = "train.log"
RUNNER_LOG = "runner.log"
FAILURES_FILE = "failures.jsonl"
STATES = ("pending", "running", "done", "diverged", "failed")
_FINAL_STATUS = {"completed": "done", "diverged": "diverged", "failed": "failed"}


def read_json(path: pathlib.Path) -> Any | None:
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


def last_failure_reason(run_dir: pathlib.Path) -> str:
  """The reason of the last attempt recorded in `RUNDIR/failures.jsonl` ('' if none)."""
  try:
    lines = (pathlib.Path(run_dir) / FAILURES_FILE).read_text().splitlines()
  except FileNotFoundError:
    return ""
  for line in reversed(lines):
    try:
      record = json.loads(line)
    except json.JSONDecodeError:
      continue
    if isinstance(record, dict) and record.get("reason"):
      return str(record["reason"])
  return ""


def read_table(sweep_dir: pathlib.Path) -> list[dict[str, Any]]:
  """The run table from `SWEEP/sweep.json`; ValueError when the directory holds no sweep."""
  table = read_json(pathlib.Path(sweep_dir) / SWEEP_FILE)
  if table is None:
    raise ValueError(
        f"--workdir={sweep_dir} holds no {SWEEP_FILE}; launch a sweep there first "
        f"(python -m scaling --config=configs/sweeps/<name>.py --workdir={sweep_dir})")
  return table["runs"]


def last_tokens(metrics_path: pathlib.Path, tail_bytes: int = 8192) -> int:
  """Tokens trained on at the last line of `metrics.jsonl` carrying 'tokens' (0 if none)."""
  try:
    with open(metrics_path, "rb") as metrics:
      metrics.seek(0, os.SEEK_END)
      metrics.seek(max(0, metrics.tell() - tail_bytes))
      lines = metrics.read().decode(errors="replace").splitlines()
  except FileNotFoundError:
    return 0
  for line in reversed(lines):
    try:
      record = json.loads(line)
    except json.JSONDecodeError:
      continue
    if isinstance(record, dict) and "tokens" in record:
      return int(record["tokens"])
  return 0


@dataclasses.dataclass(frozen=True)
class RunState:
  """What a run directory says about its run. Tokens are training tokens."""
  state: str                 # one of STATES
  tokens_done: int           # tokens trained on so far (from result.json or metrics.jsonl)
  final_eval_loss: float | None  # nats/token, when finished
  reason: str                # why a run failed or diverged, on one line ('' otherwise)


def read_state(run_dir: pathlib.Path, stale_seconds: float) -> RunState:
  """The state of the run in `run_dir`."""
  run_dir = pathlib.Path(run_dir)
  result = read_json(run_dir / RESULT_FILE)
  if result is not None:
    state = _FINAL_STATUS.get(result.get("status"), "failed")
    reason = str(result.get("reason") or result.get("error") or "")
    if state == "failed" and not reason:
      reason = last_failure_reason(run_dir)
    if state == "diverged" and not reason:
      step = result.get("diverged_step")
      reason = "non-finite loss" + (f" at step {step}" if step is not None else "")
    return RunState(state=state, tokens_done=int(result.get("tokens") or 0),
                    final_eval_loss=result.get("final_eval_loss"),
                    reason=" ".join(reason.split()))
  running = lease.is_held(run_dir, stale_seconds)
  return RunState(state="running" if running else "pending",
                  tokens_done=last_tokens(run_dir / METRICS_FILE), final_eval_loss=None,
                  reason="")


def is_final(state: str) -> bool:
  """Whether a run in this state is finished (done, diverged or failed)."""
  return state in ("done", "diverged", "failed")
