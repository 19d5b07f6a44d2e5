"""The sweep's live progress line: runs done / running / pending, share of FLOPs, ETA."""
import pathlib
import sys
import time
from typing import Any, TextIO

from records.console import format_duration
from records.status import SweepState
from scaling import rundir


class Progress:
  """Counts run states and estimates the time left from the FLOPs trained so far.

  ETA = FLOPs left / (FLOPs trained since this launcher started / seconds since then), with the
  FLOPs of a run counted as exact training FLOPs per token x tokens trained.
  """

  def __init__(self, sweep_dir: pathlib.Path, table: list[dict[str, Any]],
               stale_seconds: float, stream: TextIO = sys.stdout, every_seconds: float = 10.0):
    self.sweep_dir = pathlib.Path(sweep_dir)
    self.table = table
    self.stale_seconds = stale_seconds
    self.stream = stream
    self.every_seconds = every_seconds
    self.start_time = time.time()
    self.start_flops = self._flops_done(self._states())
    self.last_line = ""
    self.last_time = 0.0

  def _states(self) -> dict[str, rundir.RunState]:
    return {row["run_id"]: rundir.read_state(self.sweep_dir / row["run_dir"], self.stale_seconds)
            for row in self.table}

  def _flops_done(self, states: dict[str, rundir.RunState]) -> float:
    done = 0.0
    for row in self.table:
      state = states[row["run_id"]]
      start = row.get("branch_tokens", 0)  # a branch trains from its branch point on
      fraction = 1.0 if rundir.is_final(state.state) else min(1.0, max(
          0.0, (state.tokens_done - start) / max(1, row["tokens"] - start)))
      done += fraction * _spent(row)
    return done

  def line(self) -> str:
    """The progress line for the current state of the run directories."""
    states = self._states()
    counts = {state: 0 for state in tuple(SweepState)}
    for state in states.values():
      counts[state.state] += 1
    total_flops = sum(_spent(row) for row in self.table) or 1.0
    flops_done = self._flops_done(states)
    rate = (flops_done - self.start_flops) / max(1e-9, time.time() - self.start_time)
    eta = format_duration((total_flops - flops_done) / rate) if rate > 0 else "?"
    return (f"runs: {counts[SweepState.DONE]} done, {counts[SweepState.RUNNING]} running, "
            f"{counts[SweepState.PENDING]} pending, {counts[SweepState.DIVERGED]} diverged, "
            f"{counts[SweepState.FAILED]} failed of {len(self.table)} | "
            f"{flops_done / total_flops:.0%} of FLOPs | ETA {eta}")

  def report(self, force: bool = False) -> None:
    """Prints the line when it changed (or every `every_seconds`, or when forced)."""
    line = self.line()
    now = time.time()
    changed = line.split(" | ")[0] != self.last_line.split(" | ")[0]
    if force or changed or now - self.last_time >= self.every_seconds:
      print(line, file=self.stream, flush=True)
      self.last_line, self.last_time = line, now


def _spent(row: dict) -> float:
  """The exact training FLOPs a run-table row trains itself (a branch: its decay only)."""
  return row.get("flops_spent", row["flops_exact"])
