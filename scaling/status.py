"""`python -m scaling status --workdir=SWEEP`: the state of every run of a sweep, and totals."""
import pathlib
import sys
from typing import TextIO

from records import atomic
from records import layout
from scaling import rundir, tables


def states(sweep_dir: pathlib.Path) -> tuple[list[dict], list[rundir.RunState]]:
  """The run table (sweep.json rows) and each run's `rundir.RunState`."""
  sweep_dir = pathlib.Path(sweep_dir)
  rows = rundir.read_table(sweep_dir)
  stale_seconds = atomic.read_json(sweep_dir / layout.SWEEP_FILE).get("lease_stale_seconds", 60.0)
  return rows, [rundir.read_state(sweep_dir / row["run_dir"], stale_seconds) for row in rows]


def print_status(sweep_dir: pathlib.Path, stream: TextIO = sys.stdout) -> None:
  """Prints the status table of the sweep in `sweep_dir`, then one line per failed or diverged
  run with its whole reason (the table's note column is cut short)."""
  rows, run_states = states(sweep_dir)
  print(tables.status_table(rows, run_states), file=stream)
  for line in tables.ending_lines([row["run_id"] for row in rows], run_states):
    print(line, file=stream)
