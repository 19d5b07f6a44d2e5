"""Text formatting of counts and tables."""
from scaling import rundir, tables


def test_format_count():
  assert [tables.format_count(value) for value in (512, 999.9, 65_536, 1_048_576, 3e9)] == [
      "512", "1k", "65.5k", "1.05m", "3b"]


def test_status_table_totals():
  rows = [dict(run_id="a", tokens=100, n_params_non_embedding=10, flops_exact=6e4),
          dict(run_id="b", tokens=100, n_params_non_embedding=10, flops_exact=6e4)]
  states = [rundir.RunState("done", 100, 2.0, ""), rundir.RunState("running", 50, None, "")]
  text = tables.status_table(rows, states)
  lines = text.splitlines()
  assert lines[1].split()[:4] == ["a", "done", "100%", "2.0000"]
  assert lines[2].split()[:3] == ["b", "running", "50%"]
  assert lines[-2] == "2 runs: 0 pending, 1 running, 1 done, 0 diverged, 0 failed"
  assert lines[-1] == ("compute: the points stand for 1.2e+05 FLOPs (exact); the sweep spends "
                       "1.2e+05 (1.00x)")


def test_compute_line_counts_a_trunk_once_and_no_point_for_it():
  trunk = dict(flops_exact=8e4, flops_spent=8e4, branch_points=[80])
  branches = [dict(flops_exact=1e5, flops_spent=2e4, trunk_id="t", branch_tokens=80),
              dict(flops_exact=5e4, flops_spent=1e4, trunk_id="t", branch_tokens=40)]
  assert tables.compute_line([trunk, *branches]) == (
      "compute: the points stand for 1.5e+05 FLOPs (exact); the sweep spends 1.1e+05 (0.73x)")
  assert [tables.role(row) for row in (trunk, *branches, {})] == [
      "trunk", "branch@80", "branch@40", "run"]
