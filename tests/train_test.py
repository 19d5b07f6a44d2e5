"""Tests of the train.py entry point: exit codes, failure records, SIGTERM preemption."""
import json
import os
import pathlib
import signal
import subprocess
import sys

import pytest
from absl import flags

import train
from records import cli
from training import loop, preemption, validate

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY_OVERRIDES = (
    "--config.model.d_model=32", "--config.model.d_ff=64", "--config.model.seq_len=32",
    "--config.data.synthetic_tokens=100000", "--config.data.val_fraction=0.2",
    "--config.train.batch_size=8", "--config.train.warmup_tokens=512",
    "--config.train.eval_tokens=512", "--config.train.log_every_steps=100")


def _parse(workdir: pathlib.Path) -> None:
  flags.FLAGS.unparse_flags()
  flags.FLAGS(["train.py", "--config=configs/tiny.py", f"--workdir={workdir}"])


@pytest.mark.parametrize("status, code", [("completed", 0), ("diverged", 3), ("preempted", 75)])
def test_exit_codes(status, code, tmp_path, monkeypatch):
  monkeypatch.chdir(PROJECT_ROOT)
  _parse(tmp_path)
  monkeypatch.setattr(loop, "train_and_evaluate",
                      lambda config, workdir, **options: {"status": status})
  assert train.main(["train.py"]) == code


@pytest.mark.parametrize("error, code", [
    (validate.ConfigError("config.train.train_tokens=100 is below one step"), cli.EXIT_USAGE),
    (RuntimeError("out of memory"), preemption.EXIT_FAILED)])
def test_errors_are_recorded_as_failed(error, code, tmp_path, monkeypatch):
  monkeypatch.chdir(PROJECT_ROOT)
  _parse(tmp_path)

  def fail(config, workdir, **options):
    raise error

  monkeypatch.setattr(loop, "train_and_evaluate", fail)
  assert train.main(["train.py"]) == code
  result = json.loads((tmp_path / "result.json").read_text())
  assert result["status"] == "failed" and str(error) in result["error"]


def test_failure_never_overwrites_another_runs_workdir(tmp_path, monkeypatch):
  monkeypatch.chdir(PROJECT_ROOT)
  (tmp_path / "config.json").write_text(json.dumps({"seed": 123}))

  def refuse(config, workdir, **options):
    raise validate.ConfigError("workdir holds a different config")

  monkeypatch.setattr(loop, "train_and_evaluate", refuse)
  _parse(tmp_path)
  assert train.main(["train.py"]) == cli.EXIT_USAGE
  assert not (tmp_path / "result.json").exists()


def _launch(workdir: pathlib.Path, prepared: pathlib.Path) -> subprocess.Popen:
  env = {key: value for key, value in os.environ.items() if key != "XLA_FLAGS"}
  env["SCALING_LAB_PEAK_FLOPS"] = "1e11"
  command = [sys.executable, "train.py", "--config=configs/tiny.py", f"--workdir={workdir}",
             *TINY_OVERRIDES, f"--config.data.prepared_dir={prepared}",
             "--config.train.train_tokens=8192", "--config.train.eval_every_tokens=0",
             "--config.train.ckpt_every_tokens=2048"]
  return subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, start_new_session=True)


@pytest.mark.slow
@pytest.mark.entry
def test_sigterm_checkpoints_exits_75_and_relaunch_resumes(tmp_path):
  workdir, prepared = tmp_path / "run", tmp_path / "prepared"
  process = _launch(workdir, prepared)
  seen = []
  for line in process.stderr:  # the handler is installed before this line is logged
    seen.append(line)
    if "parameters:" in line:
      break
  process.send_signal(signal.SIGTERM)
  stderr = "".join(seen) + process.communicate(timeout=300)[1]
  assert process.returncode == preemption.EXIT_PREEMPTED, stderr[-2000:]
  assert not (workdir / "result.json").exists()
  checkpoints = workdir / "checkpoints"
  saved = max(int(p.name) for p in checkpoints.iterdir() if p.name.isdigit())
  assert 0 < saved < 32  # stopped early: 32 steps in all

  relaunched = _launch(workdir, prepared)
  stderr = relaunched.communicate(timeout=300)[1]
  assert relaunched.returncode == 0, stderr[-2000:]
  assert f"resumed from the checkpoint at step {saved}" in stderr
  result = json.loads((workdir / "result.json").read_text())
  assert result["status"] == "completed" and result["tokens"] == 8192


def test_unknown_override_is_named():
  assert train._unknown_override(["--config.train.fooo=1"]) == "train.fooo"
  assert train._unknown_override(["--config.colour=red"]) == "colour"
  assert train._unknown_override(["--config.train.batch_size=8", "--workdir=x"]) is None


@pytest.mark.entry
def test_unknown_config_key_on_the_command_line_is_one_line(tmp_path):
  completed = subprocess.run(
      [sys.executable, "train.py", "--config=configs/tiny.py", f"--workdir={tmp_path}",
       "--config.train.fooo=1"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
  assert completed.returncode == cli.EXIT_USAGE
  assert completed.stderr == ("error: unknown config key train.fooo in --config.train.fooo; "
                              "see configs/base.py for the keys\n")
