"""The run state read from a run directory (the file names are records.layout's).

`result.json`, written last and atomically by train.py (or by the runner when train.py could
not), is the only 'done' signal. States are records.status.SweepState: pending (not started, or
interrupted and resumable), running (a live lease), done, diverged, failed.
"""
import dataclasses
import json
import os
import pathlib
from typing import Any

from records import atomic
from records import layout
from records import result as result_lib
from records import status as status_lib
from scaling import lease



def last_failure_reason(run_dir: pathlib.Path) -> str:
  """The reason of the last attempt recorded in `RUNDIR/failures.jsonl` ('' if none)."""
  try:
    lines = (pathlib.Path(run_dir) / layout.FAILURES_FILE).read_text().splitlines()
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
  table = atomic.read_json(pathlib.Path(sweep_dir) / layout.SWEEP_FILE)
  if table is None:
    raise ValueError(
        f"--workdir={sweep_dir} holds no {layout.SWEEP_FILE}; launch a sweep there first "
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
  state: status_lib.SweepState
  tokens_done: int           # tokens trained on so far (from result.json or metrics.jsonl)
  final_eval_loss: float | None  # nats/token, when finished
  reason: str                # why a run failed or diverged, on one line ('' otherwise)


def read_state(run_dir: pathlib.Path, stale_seconds: float) -> RunState:
  """The state of the run in `run_dir`."""
  run_dir = pathlib.Path(run_dir)
  result = result_lib.read_result(run_dir)
  if result is not None:
    state = status_lib.SweepState.of(result.get(result_lib.Key.STATUS))
    reason = str(result.get(result_lib.Key.REASON) or result.get(result_lib.Key.ERROR) or "")
    if state == status_lib.SweepState.FAILED and not reason:
      reason = last_failure_reason(run_dir)
    if state == status_lib.SweepState.DIVERGED and not reason:
      step = result.get(result_lib.Key.DIVERGED_STEP)
      reason = "non-finite loss" + (f" at step {step}" if step is not None else "")
    return RunState(state=state, tokens_done=int(result.get(result_lib.Key.TOKENS) or 0),
                    final_eval_loss=result.get(result_lib.Key.FINAL_EVAL_LOSS),
                    reason=" ".join(reason.split()))
  running = lease.is_held(run_dir, stale_seconds)
  state = status_lib.SweepState.RUNNING if running else status_lib.SweepState.PENDING
  return RunState(state=state, tokens_done=last_tokens(run_dir / layout.METRICS_FILE),
                  final_eval_loss=None, reason="")


def is_final(state: str) -> bool:
  """Whether a run in this state is finished (done, diverged or failed)."""
  return status_lib.SweepState(state).final
