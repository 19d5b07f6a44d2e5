"""The runner with a fake trainer: retries, divergence, failure records, busy leases, orphans."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from records import atomic
from scaling import lease, rundir, runner


def _run_dir(tmp_path, name="run", **control):
  run_dir = tmp_path / name
  run_dir.mkdir()
  atomic.write_json_atomic(run_dir / "config.json", {"train": {"train_tokens": 1000}})
  if control:
    (run_dir / "fake.json").write_text(json.dumps(control))
  return run_dir


def _run(run_dir, trainer, max_retries=2):
  """`runner.run_one` in its own process: the runner forks trainers, which a test process that
  may hold jax threads should not do."""
  return subprocess.run(
      [sys.executable, "-m", "scaling.runner", str(run_dir), f"--trainer={trainer}",
       f"--max_retries={max_retries}", "--stale_seconds=30", "--heartbeat_seconds=0.2"],
      cwd=runner.PROJECT_ROOT, check=False).returncode


def test_completes_and_releases_the_lease(tmp_path, fake_trainer):
  run_dir = _run_dir(tmp_path)
  assert _run(run_dir, fake_trainer) == runner.EXIT_FINISHED
  assert rundir.read_state(run_dir, 30).state == "done"
  assert not (run_dir / "lease.json").exists()
  assert _run(run_dir, fake_trainer) == runner.EXIT_FINISHED
  assert (run_dir / "fake_attempts").read_text() == "1"


def test_a_crash_is_retried_and_recorded(tmp_path, fake_trainer):
  run_dir = _run_dir(tmp_path, crash_attempts=1)
  assert _run(run_dir, fake_trainer) == runner.EXIT_FINISHED
  assert rundir.read_state(run_dir, 30).state == "done"
  failures = [json.loads(line) for line in (run_dir / "failures.jsonl").read_text().splitlines()]
  assert [(f["attempt"], f["exit_code"], f["reason"]) for f in failures] == [
      (0, 1, "RuntimeError: injected crash")]


def test_retries_are_bounded_and_the_failure_is_final(tmp_path, fake_trainer):
  run_dir = _run_dir(tmp_path, crash_attempts=99)
  assert _run(run_dir, fake_trainer, max_retries=1) == runner.EXIT_FINISHED
  state = rundir.read_state(run_dir, 30)
  assert state.state == "failed"
  assert state.reason == "RuntimeError: injected crash (after 2 attempts)"
  assert (run_dir / "fake_attempts").read_text() == "2"
  assert len((run_dir / "failures.jsonl").read_text().splitlines()) == 2


def test_a_failed_run_is_retried_afresh_by_a_new_runner(tmp_path, fake_trainer):
  run_dir = _run_dir(tmp_path, crash_attempts=2)
  _run(run_dir, fake_trainer, max_retries=0)
  assert rundir.read_state(run_dir, 30).state == "failed"
  _run(run_dir, fake_trainer, max_retries=1)
  assert rundir.read_state(run_dir, 30).state == "done"
  assert len(list(run_dir.glob("result.failed-*.json"))) == 1


def test_divergence_is_not_retried(tmp_path, fake_trainer):
  run_dir = _run_dir(tmp_path, diverge=True)
  assert _run(run_dir, fake_trainer) == runner.EXIT_FINISHED
  assert rundir.read_state(run_dir, 30).state == "diverged"
  assert (run_dir / "fake_attempts").read_text() == "1"


def test_busy_when_a_live_process_holds_the_lease(tmp_path, fake_trainer):
  run_dir = _run_dir(tmp_path)
  holder = lease.Lease(run_dir, 30)
  assert holder.acquire()
  assert _run(run_dir, fake_trainer) == runner.EXIT_BUSY
  assert not (run_dir / "fake_attempts").exists()


def _alive(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  stat = open(f"/proc/{pid}/stat").read()
  return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def test_runner_and_trainer_die_with_the_parent(tmp_path, fake_trainer):
  """A parent killed with SIGKILL takes its runner and that runner's trainer with it."""
  run_dir = _run_dir(tmp_path, sleep=60)
  parent = subprocess.Popen([sys.executable, "-c", (
      "import subprocess, sys, os, time; "
      f"subprocess.Popen([sys.executable, '-m', 'scaling.runner', {str(run_dir)!r}, "
      f"'--parent_pid=' + str(os.getpid()), '--trainer={fake_trainer}']); time.sleep(600)")],
      cwd=runner.PROJECT_ROOT)
  deadline = time.time() + 30
  while not (run_dir / "fake_pids").exists() and time.time() < deadline:
    time.sleep(0.1)
  info = json.loads((run_dir / "lease.json").read_text())
  runner_pid, trainer_pid = info["pid"], int((run_dir / "fake_pids").read_text())
  assert _alive(runner_pid) and _alive(trainer_pid)
  parent.send_signal(signal.SIGKILL)
  parent.wait()
  deadline = time.time() + 10
  while (_alive(runner_pid) or _alive(trainer_pid)) and time.time() < deadline:
    time.sleep(0.1)
  assert not _alive(runner_pid) and not _alive(trainer_pid)
  assert not lease.is_held(run_dir, 600)


def test_sigterm_stops_the_run_resumable(tmp_path, fake_trainer):
  run_dir = _run_dir(tmp_path, sleep=60)
  process = subprocess.Popen([sys.executable, "-m", "scaling.runner", str(run_dir),
                              f"--trainer={fake_trainer}"], cwd=runner.PROJECT_ROOT,
                             start_new_session=True)
  deadline = time.time() + 30
  while not (run_dir / "fake_pids").exists() and time.time() < deadline:
    time.sleep(0.1)
  os.killpg(process.pid, signal.SIGTERM)
  assert process.wait(timeout=30) == runner.EXIT_STOPPED
  assert rundir.read_state(run_dir, 30).state == "pending"
  assert not (run_dir / "lease.json").exists()
  assert not (run_dir / "failures.jsonl").exists()


def test_bad_run_dir_name():
  with pytest.raises(ValueError, match="contains ':'"):
    runner.train_command("/tmp/a:b")
