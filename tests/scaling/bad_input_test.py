"""Bad input and faults on the sweep side: one line naming the fix, an exit code that says what
happened, and no silent wrong answer (a mixed sweep, an unnamed failure, a merged duplicate)."""
import csv
import io
import os
import pathlib
import subprocess
import sys

import pytest

from configs.sweeps import tiny
from records import atomic
from records import cli
from records import layout
from scaling import estimate, launch, rundir, runner, runs, status

_THROUGHPUT = estimate.Throughput(1e9, 0.0, "given")


def _sweep(sizes=(10_000,)):
  """The quick tiny sweep on `sizes` (two token budgets each), one retry, fast heartbeats."""
  sweep = tiny.get_config("quick")
  sweep.grid.sizes = sizes
  sweep.launch.update(max_retries=1, heartbeat_seconds=0.2)
  return sweep


def _launch(sweep, workdir, trainer, **kwargs):
  output = io.StringIO()
  outcome = launch.launch(sweep, workdir, trainer=trainer, stream=output, **kwargs)
  return outcome, output.getvalue().splitlines()


def _control(sweep, workdir, *controls):
  """Writes each run's fake-trainer control (None: a normal run); returns the planned runs."""
  planned = runs.plan(sweep, workdir)
  runs.materialize(planned, workdir, sweep.name)
  for run, control in zip(planned, controls):
    if control is not None:
      atomic.write_json_atomic(run.run_dir / "fake.json", control)
  return planned


def _attempts(run):
  path = run.run_dir / "fake_attempts"
  return int(path.read_text()) if path.exists() else 0


# 1. A sweep directory holds one sweep.

def test_a_changed_base_config_is_another_sweep_and_is_refused(tmp_path, fake_trainer):
  first = _sweep()
  first.base.optimizer.peak_learning_rate = 0.004
  assert _launch(first, tmp_path, fake_trainer)[0].exit_code == cli.EXIT_OK
  changed = _sweep()
  changed.base.optimizer.peak_learning_rate = 0.002
  expected = (
      f"--workdir={tmp_path} holds sweep 'tiny' with other settings "
      f"(base.optimizer.peak_learning_rate: 0.004 -> 0.002); runs that differ beyond the grid "
      f"are another sweep: choose another --workdir, or delete {tmp_path} to replace it")
  with pytest.raises(ValueError) as error:
    launch.dry_run(changed, tmp_path, max_parallel=1, throughput=_THROUGHPUT,
                   stream=io.StringIO())
  assert str(error.value) == expected
  with pytest.raises(ValueError) as error:
    _launch(changed, tmp_path, fake_trainer)
  assert str(error.value) == expected
  assert len(rundir.read_table(tmp_path)) == len(list((tmp_path / "runs").iterdir())) == 2


def test_extending_the_grid_keeps_the_sweep_and_results_name_the_hyperparameters(
    tmp_path, fake_trainer):
  first = _sweep()
  first.hparams.learning_rate.update(rule="table", table={"n10p3k": 4e-3})
  first.hparams.batch_size.update(rule="table", table={"n10p3k": 16})
  assert _launch(first, tmp_path, fake_trainer)[0].exit_code == cli.EXIT_OK
  extended = _sweep(sizes=(10_000, 20_000))
  extended.grid.tokens = (16_384, 32_768, 65_536)
  extended.hparams.learning_rate.update(rule="table", table={"n10p3k": 4e-3, "n20p6k": 3e-3})
  extended.hparams.batch_size.update(rule="table", table={"n10p3k": 16, "n20p6k": 8})
  outcome, lines = _launch(extended, tmp_path, fake_trainer)
  assert outcome.exit_code == cli.EXIT_OK
  assert "sweep tiny: 6 runs, 2 already finished, 4 to run on the local backend" in lines
  with open(tmp_path / "results.csv") as results:
    rows = list(csv.DictReader(results))
  assert len(rows) == 6
  for row in rows:
    learning_rate, batch_size = (4e-3, 16) if row["run_id"].startswith("n10p3k") else (3e-3, 8)
    assert (float(row["peak_learning_rate"]), int(row["batch_size"])) == (
        learning_rate, batch_size), row["run_id"]


def test_a_changed_per_size_value_is_another_sweep_but_a_new_size_is_not():
  def identity(table):
    sweep = _sweep()
    sweep.hparams.learning_rate.update(rule="table", table=table)
    return runs.sweep_identity(sweep)

  recorded = identity({"n10p3k": 4e-3, "n20p6k": 3e-3})
  assert runs.identity_differences(recorded, identity({"n10p3k": 4e-3})) == []
  assert runs.identity_differences(
      recorded, identity({"n10p3k": 4e-3, "n20p6k": 3e-3, "n41p2k": 2e-3})) == []
  assert runs.identity_differences(recorded, identity({"n10p3k": 5e-3, "n20p6k": 3e-3})) == [
      "hparams.learning_rate.table.n10p3k: 0.004 -> 0.005"]


# 2. A launch with failed runs fails.

def test_the_launch_exits_1_when_a_run_fails_and_names_it_last(tmp_path, fake_trainer):
  sweep = _sweep()
  planned = _control(sweep, tmp_path, {"crash_attempts": 99})
  outcome, lines = _launch(sweep, tmp_path, fake_trainer)
  failed = planned[0].run_id
  assert (outcome.exit_code, outcome.failed) == (cli.EXIT_FAILED, (failed,))
  assert lines[-1] == (
      f"sweep tiny: 0 pending, 0 running, 1 done, 0 diverged, 1 failed; failed: {failed}; see "
      f"`python -m scaling status --workdir={tmp_path}`")

  every = tmp_path / "every"
  _control(sweep, every, {"crash_attempts": 99}, {"crash_attempts": 99})
  outcome, lines = _launch(sweep, every, fake_trainer)
  assert outcome.exit_code == cli.EXIT_FAILED and len(outcome.failed) == 2
  assert lines[-1].startswith("sweep tiny: 0 pending, 0 running, 0 done, 0 diverged, 2 failed")


def test_diverged_runs_are_results_not_failures(tmp_path, fake_trainer):
  sweep = _sweep()
  _control(sweep, tmp_path, {"diverge": True}, {"diverge": True})
  outcome, lines = _launch(sweep, tmp_path, fake_trainer)
  assert (outcome.exit_code, outcome.failed) == (cli.EXIT_OK, ())
  assert lines[-1] == "sweep tiny: 0 pending, 0 running, 0 done, 2 diverged, 0 failed"


# 3. A run config train.py would reject stops the sweep before anything starts.

def _negative_base_learning_rate(sweep):
  sweep.base.optimizer.peak_learning_rate = -1e-3


def _negative_table_learning_rate(sweep):
  sweep.grid.sizes = (10_000, 20_000)
  sweep.hparams.learning_rate.update(rule="table", table={"n10p3k": 1e-3, "n20p6k": -1.0})


@pytest.mark.parametrize("change, first_bad, message", [
    (_negative_base_learning_rate, 0,
     " (and 1 more of 2 runs): config.optimizer.peak_learning_rate=-0.001 must be positive and "
     "finite; set sweep.base.optimizer.peak_learning_rate in the sweep config; nothing was "
     "started"),
    (_negative_table_learning_rate, 2,
     " (and 1 more of 4 runs): config.optimizer.peak_learning_rate=-1.0 must be positive and "
     "finite; set sweep.hparams.learning_rate in the sweep config; nothing was started"),
])
def test_a_run_config_train_py_rejects_stops_dry_run_and_launch(tmp_path, fake_trainer, change,
                                                                first_bad, message):
  sweep = _sweep()
  change(sweep)
  expected = f"run {runs.plan(sweep, tmp_path)[first_bad].run_id}{message}"
  with pytest.raises(ValueError) as error:
    launch.dry_run(sweep, tmp_path / "sweep", max_parallel=1, throughput=_THROUGHPUT,
                   stream=io.StringIO())
  assert str(error.value) == expected
  with pytest.raises(ValueError) as error:
    _launch(sweep, tmp_path / "sweep", fake_trainer)
  assert str(error.value) == expected
  assert not (tmp_path / "sweep").exists()


def test_a_trainer_usage_error_is_not_retried_and_its_reason_is_kept(tmp_path, fake_trainer):
  sweep = _sweep()
  sweep.launch.max_retries = 2
  reason = "config.data.path='/missing' does not exist; create it or correct the path"
  planned = _control(sweep, tmp_path, {"usage_error": reason})
  outcome, lines = _launch(sweep, tmp_path, fake_trainer)
  assert outcome.exit_code == cli.EXIT_FAILED
  assert _attempts(planned[0]) == 1
  assert rundir.read_state(planned[0].run_dir, 30).reason == reason
  assert f"failed {planned[0].run_id}: {reason}" in lines


# 4. Duplicate grid entries.

@pytest.mark.parametrize("fields, message", [
    (dict(sizes=(10_000, 20_000, 10_000)), "sweep.grid.sizes[2]=10000 repeats sweep.grid.sizes[0]"),
    (dict(tokens=(16_384, 16_384)), "sweep.grid.tokens[1]=16384 repeats sweep.grid.tokens[0]"),
    (dict(kind="points", points=((10_000, 16_384), (20_000, 16_384), (10_000, 16_384))),
     "sweep.grid.points[2]=(10000, 16384) repeats sweep.grid.points[0]"),
    (dict(kind="isoflop", compute_budgets=(1e11, 1e11)),
     "sweep.grid.compute_budgets[1]=1e+11 repeats sweep.grid.compute_budgets[0]"),
])
def test_a_repeated_grid_entry_is_an_error(tmp_path, fields, message):
  sweep = _sweep()
  sweep.grid.update(**fields)
  with pytest.raises(ValueError) as error:
    runs.plan(sweep, tmp_path)
  assert str(error.value) == (
      f"{message}; remove the duplicate (each grid entry is one run per seed)")


def test_a_repeated_seed_is_an_error(tmp_path):
  sweep = _sweep()
  sweep.seeds = (0, 1, 0)
  with pytest.raises(ValueError, match=r"^sweep.seeds\[2\]=0 repeats sweep.seeds\[0\]; remove"):
    runs.plan(sweep, tmp_path)


def test_entries_that_resolve_to_the_same_run_get_one_notice(tmp_path):
  sweep = _sweep(sizes=(10_000, 10_100))
  output = io.StringIO()
  launch.dry_run(sweep, tmp_path, max_parallel=1, throughput=_THROUGHPUT, stream=output)
  lines = output.getvalue().splitlines()
  assert lines[0] == ("notice: sweep.grid.sizes[1]=10100 gives the same 2 runs as "
                      "sweep.grid.sizes[0]=10000; each is trained once (drop one of the entries "
                      "to silence this)")
  assert lines[-1].startswith("2 runs | total compute")


# 5. `status` names every failed run and why.

def test_status_names_every_failed_run_and_its_reason(tmp_path, fake_trainer):
  sweep = _sweep(sizes=(10_000, 20_000))
  usage = "config.data.path='/missing' does not exist; create it or correct the path"
  planned = _control(sweep, tmp_path, {"usage_error": usage}, {"crash_attempts": 99})
  assert _launch(sweep, tmp_path, fake_trainer)[0].exit_code == cli.EXIT_FAILED
  silent = planned[3].run_dir
  atomic.write_json_atomic(silent / layout.RESULT_FILE, {"status": "failed"})
  (silent / layout.FAILURES_FILE).write_text(
      '{"attempt": 0, "exit_code": 1, "reason": "OSError: [Errno 28] No space left on device"}\n')
  table = io.StringIO()
  status.print_status(tmp_path, stream=table)
  failed = [line for line in table.getvalue().splitlines() if line.startswith("failed ")]
  assert failed == [
      f"failed {planned[0].run_id}: {usage}",
      f"failed {planned[1].run_id}: RuntimeError: injected crash (after 2 attempts)",
      f"failed {planned[3].run_id}: OSError: [Errno 28] No space left on device"]


# 6. Bad workdirs and config problems on the command line: one line, exit 2.

def _unwritable_workdir(tmp_path: pathlib.Path) -> pathlib.Path:
  """A workdir that cannot be created: under a read-only directory, or (as root, who may write
  anywhere chmod allows) under /sys, which takes no new entries."""
  if os.geteuid() != 0:
    locked = tmp_path / "read-only"
    locked.mkdir(mode=0o500)
    return locked / "sweep"
  workdir = pathlib.Path("/sys/scaling-lab-sweep")
  try:
    workdir.mkdir()
  except OSError:
    return workdir
  workdir.rmdir()
  pytest.skip("no unwritable location on this machine")


def _scaling(*arguments):
  return subprocess.run([sys.executable, "-m", "scaling", *arguments], cwd=runner.PROJECT_ROOT,
                        capture_output=True, text=True, check=False)


@pytest.mark.slow
@pytest.mark.entry
def test_the_command_line_ends_bad_input_with_one_line_and_exit_2(tmp_path):
  config = "--config=configs/sweeps/tiny.py:quick"
  missing = tmp_path / "missing"
  for workdir in (missing, tmp_path):
    ended = _scaling("status", f"--workdir={workdir}")
    assert (ended.returncode, ended.stderr) == (cli.EXIT_USAGE, (
        f"error: --workdir={workdir} holds no sweep.json; launch a sweep there first (python -m "
        f"scaling --config=configs/sweeps/<name>.py --workdir={workdir})\n"))

  unwritable = _unwritable_workdir(tmp_path)
  ended = _scaling(config, f"--workdir={unwritable}")
  assert ended.returncode == cli.EXIT_USAGE
  assert ended.stderr.startswith("error: ") and ended.stderr.count("\n") == 1, ended.stderr
  assert str(unwritable.parent) in ended.stderr and "Traceback" not in ended.stderr

  negative = _scaling(config, f"--workdir={missing}", "--dry_run", "--throughput=1e9",
                      "--config.base.optimizer.peak_learning_rate=-0.001")
  assert negative.returncode == cli.EXIT_USAGE and negative.stderr.count("\n") == 1
  assert negative.stderr.startswith("error: run n10p3k-16.4k-")
  assert "set sweep.base.optimizer.peak_learning_rate in the sweep config" in negative.stderr

  recorded = tiny.get_config("quick")
  runs.materialize(runs.plan(recorded, tmp_path), tmp_path, "tiny",
                   identity=runs.sweep_identity(recorded))
  other = _scaling(config, f"--workdir={tmp_path}", "--dry_run", "--throughput=1e9",
                   "--config.base.optimizer.peak_learning_rate=0.002")
  assert other.returncode == cli.EXIT_USAGE and other.stderr.count("\n") == 1
  assert "(base.optimizer.peak_learning_rate: 0.003 -> 0.002)" in other.stderr
  assert not missing.exists()


# 7. The test Ray cluster listens on loopback only (the fixture checks every listener).

@pytest.mark.slow
def test_the_test_ray_cluster_is_on_loopback(loopback_ray):
  assert [node["NodeManagerAddress"] for node in loopback_ray.nodes()] == ["127.0.0.1"]
