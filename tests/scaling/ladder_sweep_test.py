"""Acceptance: a ladder (one trunk, two branches) trained by real train.py runs, killed with
SIGKILL mid-trunk and again mid-branch, then relaunched: every row exactly once, with the losses
of the uninterrupted ladder; and a branch waiting for its trunk on a local Ray cluster."""
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from records import layout
from records import results_csv
from configs.sweeps import ladder_tiny
from scaling import launch, runner

# The smallest size at the two larger budgets: a trunk of 65 steps, branches of 40 and 81.
CONFIG = ("--config=configs/sweeps/ladder_tiny.py", "--config.grid.sizes=(10000,)",
          "--config.grid.tokens_per_param=(4.0,8.0)")


def _environment() -> dict[str, str]:
  environment = dict(os.environ)
  environment.pop("XLA_FLAGS", None)
  environment["SCALING_LAB_PEAK_FLOPS"] = "1e11"
  return environment


def _launcher(workdir: pathlib.Path) -> subprocess.Popen:
  return subprocess.Popen([sys.executable, "-m", "scaling", *CONFIG, f"--workdir={workdir}"],
                          cwd=runner.PROJECT_ROOT, env=_environment(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)


def _finish(workdir: pathlib.Path) -> None:
  launcher = _launcher(workdir)
  output, _ = launcher.communicate(timeout=600)
  assert launcher.returncode == 0, output


def _rows(workdir: pathlib.Path) -> dict[str, tuple[float, float]]:
  table = results_csv.read_results(workdir / layout.RESULTS_FILE)
  return {run_id: (loss, spent) for run_id, loss, spent in zip(
      table.values(results_csv.Column.RUN_ID), table.values(results_csv.Column.FINAL_EVAL_LOSS),
      table.values(results_csv.Column.FLOPS_SPENT))}


def _caught(run_dir: pathlib.Path) -> bool:
  """Running, with a checkpoint of its own saved, and not finished."""
  checkpoints = run_dir / layout.CHECKPOINTS_DIR
  return ((run_dir / layout.LEASE_FILE).exists() and not (run_dir / layout.RESULT_FILE).exists()
          and checkpoints.is_dir() and any(p.name.isdigit() for p in checkpoints.iterdir()))


def _kill_trainer(run_dir: pathlib.Path) -> None:
  """SIGKILLs the trainer that holds `run_dir`'s lease, so that it cannot finish meanwhile."""
  trainer_pid = json.loads((run_dir / layout.LEASE_FILE).read_text()).get("trainer_pid")
  try:
    os.kill(trainer_pid, signal.SIGKILL)
  except ProcessLookupError:  # it finished first: the assertion after the kill says so
    pass


def _kill_when(workdir: pathlib.Path, condition) -> list[pathlib.Path]:
  """Starts a launcher; once `condition(run_dirs)` names a run, SIGKILLs that run's trainer and
  the launcher. Returns the runs named."""
  launcher = _launcher(workdir)
  deadline, caught = time.time() + 300, []
  while time.time() < deadline and not caught:
    run_dirs = sorted((workdir / layout.RUNS_DIR).glob("*/")) if (
        workdir / layout.RUNS_DIR).exists() else []
    caught = condition(run_dirs)
    if not caught:
      time.sleep(0.02)
  for run_dir in caught:
    _kill_trainer(run_dir)
  launcher.send_signal(signal.SIGKILL)
  launcher.wait()
  time.sleep(2.0)  # the runners notice their launcher is gone and stop their trainers
  assert caught, "no run was caught between a checkpoint and its end"
  assert not any((run_dir / layout.RESULT_FILE).exists() for run_dir in caught)
  return caught


def _is_trunk(run_dir: pathlib.Path) -> bool:
  config = json.loads((run_dir / layout.CONFIG_FILE).read_text())
  return bool(config["train"]["branch_point_tokens"])


@pytest.mark.slow
@pytest.mark.entry
def test_sigkill_mid_trunk_and_mid_branch_then_every_row_once(tmp_path):
  reference_dir = tmp_path / "reference"
  _finish(reference_dir)
  reference = _rows(reference_dir)
  assert len(reference) == 2  # the trunk is no row of its own

  workdir = tmp_path / "killed"
  trunk = _kill_when(workdir, lambda dirs: [d for d in dirs if _caught(d) and _is_trunk(d)])
  branch = _kill_when(workdir, lambda dirs: [d for d in dirs
                                             if _caught(d) and not _is_trunk(d)])
  assert trunk != branch
  _finish(workdir)
  assert _rows(workdir) == reference
  for run_dir in (workdir / layout.RUNS_DIR).glob("*/"):
    log = (run_dir / layout.TRAIN_LOG).read_text()
    if _is_trunk(run_dir):
      assert "branched from" not in log
    else:  # a launch killed before the branch's own first checkpoint branches again; none after
      assert "branched from" in log
      resumed = log.find("resumed from the checkpoint")
      assert resumed < 0 or "branched from" not in log[resumed:]
  assert (branch[0] / layout.TRAIN_LOG).read_text().count("resumed from the checkpoint") == 1
  # Every branch is done, so the trunk's branch-point checkpoints are gone.
  assert not any((trunk[0] / layout.BRANCH_POINTS_DIR).iterdir())


@pytest.mark.usefixtures("loopback_ray")
def test_ray_starts_a_branch_once_its_trunk_saved_its_point(tmp_path, fake_trainer):
  """The fake trainer's trunk saves its branch points only after a second; a branch started
  before its point exists is refused (exit 2), so a clean sweep means every branch waited."""
  sweep = ladder_tiny.get_config()
  sweep.grid.sizes = (10_000,)
  outcome = launch.launch(sweep, tmp_path, backend="ray", trainer=fake_trainer)
  assert outcome.exit_code == 0
  run_dirs = sorted((tmp_path / layout.RUNS_DIR).glob("*/"))
  branches = [run_dir for run_dir in run_dirs if not _is_trunk(run_dir)]
  assert len(run_dirs) == 4 and len(branches) == 3
  for run_dir in branches:
    assert json.loads((run_dir / "fake_branch.json").read_text()) == {"saved": True}
