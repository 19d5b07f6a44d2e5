"""Acceptance: real train.py sweeps on the local and Ray backends, SIGKILL recovery, two launchers.

Every sweep here is `configs/sweeps/tiny.py` on a subset of its grid (same runs, same ids): the
reference trains its two smaller sizes, the sweeps after it those or fewer, so each run's final
eval loss must equal the uninterrupted reference sweep's.
"""
import csv
import io
import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import pytest

from configs.sweeps import tiny
from records import layout
from scaling import launch, runner

pytestmark = [pytest.mark.slow, pytest.mark.entry]

SUBSET = "--config.grid.sizes=(10000,20000)"  # 2 sizes x 2 token budgets: 4 of the 6 runs


def _environment() -> dict[str, str]:
  """One CPU device per run (no fake devices) and no matmul-peak measurement per run."""
  environment = dict(os.environ)
  environment.pop("XLA_FLAGS", None)
  environment["SCALING_LAB_PEAK_FLOPS"] = "1e11"
  return environment


def _launcher(workdir: pathlib.Path, *flags: str) -> subprocess.Popen:
  return subprocess.Popen(
      [sys.executable, "-m", "scaling", "--config=configs/sweeps/tiny.py",
       f"--workdir={workdir}", *flags], cwd=runner.PROJECT_ROOT, env=_environment(),
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _losses(workdir: pathlib.Path) -> dict[str, float]:
  with open(workdir / layout.RESULTS_FILE) as results:
    return {row["run_id"]: float(row["final_eval_loss"]) for row in csv.DictReader(results)}


def _attempts(run_dir: pathlib.Path) -> int:
  log = run_dir / layout.RUNNER_LOG
  return log.read_text().count(": attempt ") if log.exists() else 0


@pytest.fixture(scope="module")
def reference_dir(tmp_path_factory) -> pathlib.Path:
  """The sweep directory of the uninterrupted tiny sweep on SUBSET."""
  workdir = tmp_path_factory.mktemp("reference")
  launcher = _launcher(workdir, SUBSET)
  output, _ = launcher.communicate(timeout=600)
  assert launcher.returncode == 0, output
  return workdir


@pytest.fixture(scope="module")
def reference(reference_dir) -> dict[str, float]:
  """Final eval loss per run id of the uninterrupted tiny sweep."""
  return _losses(reference_dir)


def test_tiny_sweep_fills_results_csv(reference_dir, reference):
  assert len(reference) == 4
  assert all(2.0 < loss < 5.0 for loss in reference.values())
  with open(reference_dir / layout.RESULTS_FILE) as results:
    rows = list(csv.DictReader(results))
  for row in rows:
    assert row["status"] == "completed"
    assert int(row["n_params_non_embedding"]) * int(row["tokens"]) * 6 == int(row["flops_6nd"])
    eval_tokens = [json.loads(line)["tokens"] for line in open(row["curve_path"])
                   if "eval_loss" in line]
    assert eval_tokens[-1] == int(row["tokens"])
  table = io.StringIO()
  launch.dry_run(tiny.get_config(), reference_dir, max_parallel=2, stream=table)
  assert "(throughput: median of 4 finished runs)" in table.getvalue()


def _alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  return open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()[0] not in ("Z", "X")


def _checkpointed_and_running(run_dir: pathlib.Path) -> bool:
  checkpoints = run_dir / "checkpoints"
  return ((run_dir / "lease.json").exists() and not (run_dir / "result.json").exists()
          and checkpoints.is_dir() and any(path.name.isdigit() for path in checkpoints.iterdir()))


def test_sigkill_then_two_launchers_finish_every_run_once(tmp_path, reference):
  """A launcher killed mid-sweep leaves nothing running; two launchers started at once then
  finish the sweep: finished runs untouched, every other run trained by exactly one of them,
  interrupted runs resumed from their checkpoints, losses equal to the uninterrupted sweep's."""
  launcher = _launcher(tmp_path, SUBSET)
  runs_dir = tmp_path / "runs"
  deadline = time.time() + 300
  while time.time() < deadline:
    run_dirs = list(runs_dir.glob("*/")) if runs_dir.exists() else []
    done = [path for path in run_dirs if (path / "result.json").exists()]
    caught = [path for path in run_dirs if _checkpointed_and_running(path)]
    if done and caught:
      break
    time.sleep(0.05)
  launcher.send_signal(signal.SIGKILL)
  launcher.wait()
  assert done and caught, "no run was caught between a checkpoint and its end"
  finished_before = {path.name: (path / "result.json").stat().st_mtime_ns for path in done}
  attempts_before = {path.name: _attempts(path) for path in run_dirs}
  leases = [json.loads((path / "lease.json").read_text()) for path in run_dirs
            if (path / "lease.json").exists()]
  orphans = [pid for info in leases for pid in (info["pid"], info.get("trainer_pid")) if pid]
  time.sleep(2.0)
  assert not [pid for pid in orphans if _alive(pid)], "processes survived the launcher"

  launchers = [_launcher(tmp_path, SUBSET) for _ in range(2)]
  for process in launchers:
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output
  losses = _losses(tmp_path)
  assert len(losses) == 4
  assert losses == pytest.approx({key: reference[key] for key in losses}, rel=1e-6)
  for path in runs_dir.glob("*/"):
    if path.name in finished_before:
      assert (path / "result.json").stat().st_mtime_ns == finished_before[path.name]
      assert _attempts(path) == attempts_before[path.name] == 1
    else:
      assert _attempts(path) == attempts_before.get(path.name, 0) + 1, path.name
  for path in caught:
    assert (path / layout.TRAIN_LOG).read_text().count("resumed from the checkpoint") == 1


@pytest.fixture
def trainer_environment(monkeypatch) -> None:
  """`_environment()` in this process, so that the Ray workers started after it inherit it."""
  monkeypatch.delenv("XLA_FLAGS", raising=False)
  monkeypatch.setenv("SCALING_LAB_PEAK_FLOPS", "1e11")


@pytest.mark.usefixtures("trainer_environment", "loopback_ray")
def test_ray_backend_survives_a_killed_worker(tmp_path, reference):
  killed = []

  def kill_one_worker() -> None:
    deadline = time.time() + 300
    while time.time() < deadline and not killed:
      for run_dir in (tmp_path / "runs").glob("*/"):
        if _checkpointed_and_running(run_dir):
          runner_pid = json.loads((run_dir / "lease.json").read_text())["pid"]
          worker_pid = int(open(f"/proc/{runner_pid}/stat").read().rpartition(")")[2].split()[1])
          os.kill(worker_pid, signal.SIGKILL)
          killed.append(run_dir)
          return
      time.sleep(0.05)

  killer = threading.Thread(target=kill_one_worker, daemon=True)
  killer.start()
  sweep = tiny.get_config()
  sweep.grid.sizes = (20_000,)
  assert launch.launch(sweep, tmp_path, backend="ray").exit_code == 0
  killer.join(timeout=1)
  assert killed, "no Ray worker was caught mid-run"
  losses = _losses(tmp_path)
  assert len(losses) == 2
  assert losses == pytest.approx({key: reference[key] for key in losses}, rel=1e-6)
  assert _attempts(killed[0]) == 2
