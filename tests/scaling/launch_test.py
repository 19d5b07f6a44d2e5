"""The launcher on the local backend with a fake trainer: failures, relaunch, dry run, errors."""
import csv
import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from configs.sweeps import tiny
from records import layout
from scaling import estimate, grid, launch, local, rundir, runner, runs, status


def _sweep():
  sweep = tiny.get_config("quick")
  sweep.launch.update(max_retries=1, heartbeat_seconds=0.2)
  return sweep


def _attempts(planned):
  return {run.run_id: int((run.run_dir / "fake_attempts").read_text())
          if (run.run_dir / "fake_attempts").exists() else 0 for run in planned}


def test_failures_do_not_stop_the_sweep_and_relaunch_skips_finished(tmp_path, fake_trainer):
  sweep = _sweep()
  planned = runs.plan(sweep, tmp_path)
  runs.materialize(planned, tmp_path, "tiny")
  (planned[0].run_dir / "fake.json").write_text(json.dumps({"crash_attempts": 99}))
  (planned[1].run_dir / "fake.json").write_text(json.dumps({"diverge": True}))
  (planned[2].run_dir / "fake.json").write_text(json.dumps({"crash_attempts": 1}))
  output = io.StringIO()
  assert launch.launch(sweep, tmp_path, trainer=fake_trainer, stream=output).exit_code == 1
  assert "6 runs, 0 already finished, 6 to run" in output.getvalue()
  states = [rundir.read_state(run.run_dir, 30) for run in planned]
  assert [state.state for state in states] == ["failed", "diverged"] + ["done"] * 4
  assert states[0].reason.startswith("RuntimeError: injected crash")
  assert (f"failed {planned[0].run_id}: RuntimeError: injected crash (after 2 attempts)"
          in output.getvalue())
  assert f"diverged {planned[1].run_id}: non-finite loss" in output.getvalue()
  assert _attempts(planned) == dict(zip([run.run_id for run in planned], [2, 1, 2, 1, 1, 1]))
  with open(tmp_path / "results.csv") as results:
    rows = list(csv.DictReader(results))
  assert sorted(row["run_id"] for row in rows) == sorted(run.run_id for run in planned[1:])

  assert launch.launch(sweep, tmp_path, trainer=fake_trainer, retry_failed=False,
                       stream=output).exit_code == 1
  assert _attempts(planned)[planned[0].run_id] == 2
  assert sum(_attempts(planned).values()) == 8
  (planned[0].run_dir / "fake.json").unlink()
  assert launch.launch(sweep, tmp_path, trainer=fake_trainer, stream=output).exit_code == 0
  assert rundir.read_state(planned[0].run_dir, 30).state == "done"
  assert sum(_attempts(planned).values()) == 9

  table = io.StringIO()
  status.print_status(tmp_path, stream=table)
  lines = table.getvalue().splitlines()
  assert lines[-3] == "6 runs: 0 pending, 0 running, 5 done, 1 diverged, 0 failed"
  total = sum(run.spec.flops_exact for run in planned)
  assert lines[-2] == (f"compute: the points stand for {total:.4g} FLOPs (exact); the sweep "
                       f"spends {total:.4g} (1.00x)")
  assert lines[-1].startswith(f"diverged {planned[1].run_id}: non-finite loss")


def test_two_launchers_share_a_sweep(tmp_path, fake_trainer):
  sweep = _sweep()
  planned = runs.plan(sweep, tmp_path)
  runs.materialize(planned, tmp_path, "tiny")
  for run in planned:
    (run.run_dir / "fake.json").write_text(json.dumps({"sleep": 0.5}))
  script = ("import sys; from configs.sweeps import tiny; from scaling import launch; "
            "sweep = tiny.get_config('quick'); sweep.launch.heartbeat_seconds = 0.2; "
            f"sys.exit(launch.launch(sweep, {str(tmp_path)!r}, trainer={str(fake_trainer)!r},"
            " max_parallel=2).exit_code)")
  launchers = [subprocess.Popen([sys.executable, "-c", script], cwd=runner.PROJECT_ROOT,
                                stdout=subprocess.DEVNULL) for _ in range(2)]
  assert [process.wait(timeout=120) for process in launchers] == [0, 0]
  assert set(_attempts(planned).values()) == {1}
  assert all(rundir.read_state(run.run_dir, 30).state == "done" for run in planned)


def test_dry_run_prints_the_table_and_starts_nothing(tmp_path):
  output = io.StringIO()
  launch.dry_run(_sweep(), tmp_path / "sweep", max_parallel=2, stream=output,
                 throughput=estimate.Throughput(1e9, 10.0, "given"))
  lines = output.getvalue().splitlines()
  assert lines[0].split() == ["run_id", "role", "shape", "N_non_emb", "N_total", "D", "FLOPs_6ND",
                              "FLOPs_exact", "est_time"]
  assert len(lines) == 8 and lines[1].startswith("n10p3k-16.4k-")
  assert lines[-1].startswith("6 runs | total compute 2.13e+10 FLOPs (6ND)")
  assert not (tmp_path / "sweep").exists()


@pytest.mark.entry
def test_first_dry_run_times_the_smallest_run_once_and_keeps_it(tmp_path, monkeypatch):
  sweep_dir = tmp_path / "sweep"
  launch.dry_run(_sweep(), sweep_dir, max_parallel=2, stream=io.StringIO())
  kept = json.loads((sweep_dir / layout.THROUGHPUT_FILE).read_text())
  smallest = min(runs.plan(_sweep(), sweep_dir),
                 key=lambda run: run.spec.flops_exact / run.spec.tokens)
  assert kept["source"] == (f"{estimate.CALIBRATION_STEPS}-step run of size "
                            f"{smallest.spec.shape.label}")
  assert kept["flops_per_second"] > 0 and kept["overhead_seconds"] >= 0
  monkeypatch.setattr(estimate, "Calibration", lambda: pytest.fail("measured"))
  output = io.StringIO()
  launch.dry_run(_sweep(), sweep_dir, max_parallel=2, stream=output)
  assert f"(throughput: {kept['source']})" in output.getvalue()
  started = []

  class NotTimed:  # the worker started in case the machine's cache lacks the shape
    def __init__(self):
      started.append(self)
      self.cancelled = False

    def time(self, run):
      pytest.fail(f"measured size {run.shape.label}")

    def cancel(self):
      self.cancelled = True

  monkeypatch.setattr(estimate, "Calibration", NotTimed)
  another = _sweep()
  another.base.optimizer.peak_learning_rate *= 2  # another sweep, the same step shapes
  output = io.StringIO()
  launch.dry_run(another, tmp_path / "another", max_parallel=2, stream=output)
  assert f"(throughput: {kept['source']}, this machine's cache)" in output.getvalue()
  assert [calibration.cancelled for calibration in started] == [True]


def test_the_machine_cache_is_keyed_by_the_step_shape(machine_throughput_cache):
  specs = grid.expand(_sweep())
  run = estimate.calibration_run(specs)
  assert run.flops_exact / run.tokens == min(spec.flops_exact / spec.tokens for spec in specs)
  measured = estimate.Throughput(2e9, 3.0, "measured")
  assert estimate.machine_throughput(run) is None
  estimate.save_calibration(machine_throughput_cache.parent / "sweep", run, measured)
  assert estimate.machine_throughput(run) == dataclasses.replace(
      measured, source="measured, this machine's cache")
  same_shape = _sweep()
  same_shape.base.optimizer.peak_learning_rate *= 2
  same_shape.base.train.train_tokens *= 2
  assert estimate.machine_throughput(estimate.calibration_run(grid.expand(same_shape))) is not None
  other_batch = _sweep()
  other_batch.base.train.batch_size *= 2
  assert estimate.machine_throughput(estimate.calibration_run(grid.expand(other_batch))) is None


def test_a_refused_dry_run_stops_its_calibration(tmp_path, monkeypatch):
  started = []

  class Recorded:
    def __init__(self):
      started.append(self)
      self.cancelled = False

    def time(self, run):
      del run

    def cancel(self):
      self.cancelled = True

  monkeypatch.setattr(estimate, "Calibration", Recorded)
  other = _sweep()
  other.base.optimizer.peak_learning_rate *= 2
  runs.materialize([], tmp_path, "another", identity=runs.sweep_identity(other))
  with pytest.raises(ValueError, match="holds sweep 'another' with other settings"):
    launch.dry_run(_sweep(), tmp_path, max_parallel=2, stream=io.StringIO())
  assert [calibration.cancelled for calibration in started] == [True]


def test_throughput_from_finished_runs():
  results = [dict(status="completed", tokens=1000, tokens_per_second=100.0, flops_exact=1e6,
                  wall_seconds=25.0)] * 2
  throughput = estimate.from_results(results + [dict(status="failed")])
  assert (throughput.flops_per_second, throughput.overhead_seconds) == (1e5, 15.0)
  assert throughput.seconds(2e5) == 17.0
  assert estimate.from_results([]) is None


def test_finished_results_reads_at_most_a_spread_of_runs(tmp_path):
  for index in range(10):
    run_dir = tmp_path / layout.RUNS_DIR / f"run{index}"
    run_dir.mkdir(parents=True)
    (run_dir / layout.RESULT_FILE).write_text(json.dumps(dict(index=index)))
  (tmp_path / layout.RUNS_DIR / "unfinished").mkdir()
  assert [r["index"] for r in estimate.finished_results(tmp_path)] == list(range(10))
  assert [r["index"] for r in estimate.finished_results(tmp_path, at_most=4)] == [0, 3, 6, 9]


@pytest.mark.parametrize("change, message", [
    (dict(backend="slurm"), "--backend='slurm' is unknown; use one of local, ray"),
    (dict(max_parallel=-1), "--max_parallel=-1 must be at least 1"),
])
def test_bad_launch_arguments(tmp_path, change, message):
  with pytest.raises(ValueError, match=message):
    launch.launch(_sweep(), tmp_path / "sweep", **change)
  assert not (tmp_path / "sweep" / "runs").exists()


@pytest.mark.entry
def test_command_line(tmp_path):
  def scaling(*arguments):
    return subprocess.run([sys.executable, "-m", "scaling", *arguments], cwd=runner.PROJECT_ROOT,
                          capture_output=True, text=True)
  dry = scaling("--config=configs/sweeps/tiny.py:quick", f"--workdir={tmp_path}", "--dry_run",
                "--throughput=1e9")
  assert dry.returncode == 0 and "6 runs | total compute" in dry.stdout
  bad = scaling("--config=configs/sweeps/tiny.py", f"--workdir={tmp_path}", "--backend=slurm")
  assert bad.returncode != 0
  assert bad.stderr.strip().splitlines()[-1] == (
      "error: --backend='slurm' is unknown; use one of local, ray")
  empty = scaling("--config=configs/sweeps/tiny.py", f"--workdir={tmp_path}",
                  "--config.grid.sizes=()")
  assert "sweep.grid.sizes is empty" in empty.stderr
  missing = scaling("status", f"--workdir={tmp_path}")
  assert "holds no sweep.json" in missing.stderr
  assert not (tmp_path / "runs").exists()


def test_sigterm_stops_the_launcher_and_leaves_runs_resumable(tmp_path, fake_trainer):
  sweep = _sweep()
  planned = runs.plan(sweep, tmp_path)
  runs.materialize(planned, tmp_path, "tiny")
  for run in planned:
    (run.run_dir / "fake.json").write_text(json.dumps({"sleep": 60}))
  script = ("import sys; from configs.sweeps import tiny; from scaling import launch; "
            f"sys.exit(launch.launch(tiny.get_config('quick'), {str(tmp_path)!r}, "
            f"trainer={str(fake_trainer)!r}, max_parallel=2).exit_code)")
  launcher = subprocess.Popen([sys.executable, "-c", script], cwd=runner.PROJECT_ROOT,
                              stdout=subprocess.DEVNULL)
  deadline = time.time() + 60
  while sum((run.run_dir / "fake_pids").exists() for run in planned) < 2:
    assert time.time() < deadline
    time.sleep(0.1)
  trainer_pids = [int((run.run_dir / "fake_pids").read_text()) for run in planned
                  if (run.run_dir / "fake_pids").exists()]
  launcher.send_signal(signal.SIGTERM)
  assert launcher.wait(timeout=30) == 75
  assert [rundir.read_state(run.run_dir, 30).state for run in planned] == ["pending"] * 6
  assert not list(tmp_path.glob("runs/*/lease.json"))
  for pid in trainer_pids:
    with pytest.raises(ProcessLookupError):
      os.kill(pid, 0)


def test_gpu_groups():
  assert local.gpu_groups(2, visible="0,1,2,3,4") == ["0,1", "2,3"]
  assert local.gpu_groups(1, visible="3,5") == ["3", "5"]
  with pytest.raises(ValueError, match="gpus_per_run=2 but 1 GPUs are visible"):
    local.gpu_groups(2, visible="0")


def test_runs_get_disjoint_gpus(tmp_path, fake_trainer, monkeypatch):
  monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,7")
  sweep = _sweep()
  sweep.launch.gpus_per_run = 1
  planned = runs.plan(sweep, tmp_path)
  runs.materialize(planned, tmp_path, "tiny")
  for run in planned:
    (run.run_dir / "fake.json").write_text(json.dumps({"sleep": 0.3}))
  assert launch.launch(sweep, tmp_path, trainer=fake_trainer, max_parallel=4,
                       stream=io.StringIO()).exit_code == 0
  used = [json.loads((run.run_dir / "fake_devices").read_text()) for run in planned]
  assert {device for device, _, _ in used} == {"4", "7"}
  for index, (device, start, end) in enumerate(used):
    for other_device, other_start, other_end in used[index + 1:]:
      if other_device == device:
        assert other_end <= start or end <= other_start


def test_a_calibration_run_that_fails_is_one_line_and_leaves_nothing():
  run = estimate.calibration_run(grid.expand(_sweep()))
  broken = dataclasses.replace(run, overrides=dict(run.overrides, **{"model.n_heads": 3}))
  assert broken.config.model.d_model % 3  # d_model is not a multiple of 3 heads
  calibration = estimate.Calibration()
  calibration.time(broken)
  with pytest.raises(ValueError, match=r"calibration run of size .* failed \(train.py exit code "
                     r"2: .*n_heads.*\); fix the config, or pass --throughput"):
    calibration.result()
  assert calibration._worker.poll() is not None  # pylint: disable=protected-access
  assert not os.path.exists(calibration._workdir.name)  # pylint: disable=protected-access
