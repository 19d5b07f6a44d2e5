"""Text formatting of counts, durations and tables."""
from scaling import rundir, tables


def test_format_count_and_duration():
  assert [tables.format_count(value) for value in (512, 999.9, 65_536, 1_048_576, 3e9)] == [
      "512", "1k", "65.5k", "1.05m", "3b"]
  assert [tables.format_duration(value) for value in (45, 200, 3720)] == ["45s", "3m20s",
                                                                         "1h02m"]


def test_status_table_totals():
  rows = [dict(run_id="a", tokens=100, n_params_non_embedding=10),
          dict(run_id="b", tokens=100, n_params_non_embedding=10)]
  states = [rundir.RunState("done", 100, 2.0, ""), rundir.RunState("running", 50, None, "")]
  text = tables.status_table(rows, states)
  lines = text.splitlines()
  assert lines[1].split()[:4] == ["a", "done", "100%", "2.0000"]
  assert lines[2].split()[:3] == ["b", "running", "50%"]
  assert lines[-1] == "2 runs: 0 pending, 1 running, 1 done, 0 diverged, 0 failed"
