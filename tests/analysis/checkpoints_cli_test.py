"""`analysis fit --checkpoints`: a source without curves ends as one line naming the fix."""
import subprocess
import sys

import pytest

from records import cli


@pytest.mark.entry
def test_checkpoints_of_a_csv_without_curves_are_refused_in_one_line(tmp_path):
  path = tmp_path / "runs.csv"
  path.write_text("params,tokens,loss\n1e8,2.5e9,3.0\n")
  completed = subprocess.run(
      [sys.executable, "-m", "analysis", "fit", f"--out={tmp_path / 'out'}",
       "--compilation_cache=", f"--data={path}", "--columns=n:params,d:tokens,loss:loss",
       "--checkpoints=hitchhiker"], capture_output=True, text=True, timeout=300)
  assert completed.returncode == cli.EXIT_USAGE and "Traceback" not in completed.stderr
  assert completed.stderr.splitlines()[-1] == (
      "error: --checkpoints needs each run's curve: pass --results=SWEEP/results.csv or "
      "--dataset=NAME instead of --data")
