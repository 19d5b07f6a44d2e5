"""Reproduction: a real run and a real two-run sweep rerun bit-exactly; differences are reported.

The original runs are `train.py` processes on one CPU device (no fake-device flag), both at
once; the reruns are `train.py` processes started by `scaling.reproduce` with one CPU device
too, so that they load the programs the originals compiled from the session's compilation cache.
"""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import orbax.checkpoint as ocp
import pytest

from configs import tiny
from configs.sweeps import base as sweep_base
from records import layout
from scaling import reproduce, runner, runs


def _tiny_sweep(prepared_dir: pathlib.Path):
  """Two runs of one 1-layer model (d_model 32) on 2,048 and 4,096 synthetic tokens."""
  sweep = sweep_base.get_config()
  sweep.name = "reproduce-test"
  sweep.base = tiny.get_config()
  sweep.base.model.update(seq_len=32)
  sweep.base.data.update(synthetic_tokens=50_000, prepared_dir=str(prepared_dir))
  sweep.base.train.update(batch_size=8, eval_tokens=512, log_every_steps=8)
  sweep.base.mesh.update(data=1, fsdp=1, tensor=1)
  sweep.grid.update(kind="n_by_d", sizes=(10_000,), tokens=(2048, 4096))
  sweep.schedule.update(warmup_fraction=0.25, evals_per_run=1, checkpoints_per_run=1)
  return sweep


def _one_device_environment() -> dict[str, str]:
  """This process's environment for a trainer on one CPU device, without matmul-peak timing."""
  environment = {name: value for name, value in os.environ.items() if name != "XLA_FLAGS"}
  environment["SCALING_LAB_PEAK_FLOPS"] = "1e11"
  return environment


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> pathlib.Path:
  """A sweep directory with two finished runs, trained by train.py on one device each."""
  root = tmp_path_factory.mktemp("reproduce")
  sweep = _tiny_sweep(root / "prepared")
  planned = runs.plan(sweep, root / "sweep")
  runs.materialize(planned, root / "sweep", sweep.name)
  trainers = [subprocess.Popen(runner.train_command(run.run_dir), cwd=runner.PROJECT_ROOT,
                               env=_one_device_environment(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True) for run in planned]
  for trainer in trainers:
    output, _ = trainer.communicate(timeout=300)
    assert trainer.returncode == 0, output
  for run in planned:
    assert _result(run.run_dir)["status"] == "completed"
  return root / "sweep"


@pytest.fixture
def one_device(monkeypatch):
  """Reruns see one CPU device (as the originals did) and skip the matmul-peak timing."""
  monkeypatch.delenv("XLA_FLAGS", raising=False)
  monkeypatch.setenv("SCALING_LAB_PEAK_FLOPS", "1e11")


def _run_dirs(sweep_dir: pathlib.Path) -> list[pathlib.Path]:
  return sorted((sweep_dir / layout.RUNS_DIR).glob("*/"))


def _result(run_dir: pathlib.Path) -> dict:
  return json.loads((run_dir / layout.RESULT_FILE).read_text())


@pytest.mark.slow
def test_cli_reproduces_a_run_bit_exactly(sweep_dir, one_device, tmp_path):
  run_dir = _run_dirs(sweep_dir)[0]
  command = subprocess.run(
      [sys.executable, "-m", "scaling", "reproduce", str(run_dir), f"--out={tmp_path / 'rerun'}"],
      cwd=runner.PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=False)
  assert command.returncode == 0, command.stdout + command.stderr
  assert f"{run_dir.name}: bit-exact" in command.stdout
  assert "1 of 1 run(s) bit-exact" in command.stdout
  original, rerun = _result(run_dir), _result(tmp_path / "rerun")
  assert rerun["final_eval_loss"] == original["final_eval_loss"]
  assert rerun["data_manifest"] == original["data_manifest"]
  assert rerun["machine"] == original["machine"] and " | cpu x1" in original["machine"]
  assert reproduce.params_hash(tmp_path / "rerun") == reproduce.params_hash(run_dir)


@pytest.mark.slow
def test_sweep_reproduction_reports_each_run(sweep_dir, one_device, tmp_path):
  """Both runs rerun; a doctored loss and a doctored data hash in the originals are reported."""
  copy = tmp_path / "sweep"
  subprocess.run(["cp", "-r", str(sweep_dir), str(copy)], check=True)
  first, second = _run_dirs(copy)
  doctored = _result(first)
  doctored["final_eval_loss"] = np.nextafter(doctored["final_eval_loss"], np.inf)
  (first / layout.RESULT_FILE).write_text(json.dumps(doctored))
  mismatched = _result(second)
  mismatched["data_manifest"]["content_hash"] = "0" * 64
  (second / layout.RESULT_FILE).write_text(json.dumps(mismatched))

  seen = []
  comparisons = reproduce.reproduce(copy, tmp_path / "reruns", on_result=seen.append)

  assert [c.run_id for c in comparisons] == [first.name, second.name] == [c.run_id for c in seen]
  loss_differs, data_differs = comparisons
  assert not loss_differs.bit_exact
  assert loss_differs.differing_fields == ("final_eval_loss",)
  assert loss_differs.params_match is True
  assert loss_differs.loss_difference == pytest.approx(
      -np.spacing(loss_differs.rerun_loss), rel=1e-6)
  assert "eval loss differs by" in loss_differs.verdict()
  assert data_differs.bit_exact and data_differs.verdict() == "bit-exact"
  assert data_differs.data_note.startswith("data mismatch: content_hash 000")
  assert (tmp_path / "reruns" / second.name / layout.RESULT_FILE).is_file()
  table = reproduce.format_table(comparisons)
  assert "1 of 2 run(s) bit-exact" in table
  assert f"{second.name}: data mismatch" in table


def test_default_out_is_the_next_free_reproductions_folder(tmp_path):
  run_dir = tmp_path / "run"
  (run_dir / layout.REPRODUCTIONS_DIR / "1").mkdir(parents=True)
  calls = []

  def fake_reproduce_run(path, out_dir, trainer, tolerance):
    calls.append((path, out_dir))
    return "compared"

  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(reproduce, "reproduce_run", fake_reproduce_run)
    assert reproduce.reproduce(run_dir) == ["compared"]
  assert calls == [(run_dir, run_dir / layout.REPRODUCTIONS_DIR / "2")]


def test_check_data():
  recorded = {"data_manifest": {"key": "k1", "content_hash": "h1"}}
  assert reproduce.check_data(recorded, {"key": "k1", "content_hash": "h1"}) == ""
  note = reproduce.check_data(recorded, {"key": "k2", "content_hash": "h1"})
  assert note == "data mismatch: key k1 (run) != k2 (now)"
  assert "recorded no data manifest" in reproduce.check_data({}, {"key": "k1"})


def _comparison(**fields) -> reproduce.Comparison:
  defaults = dict(run_id="n10k-2k-00000000", original_dir=pathlib.Path("a"),
                  rerun_dir=pathlib.Path("b"), original_loss=2.5, rerun_loss=2.5,
                  differing_fields=(), params_match=True, data_note="", notes=())
  defaults.update(fields)
  return reproduce.Comparison(**defaults)


def test_verdicts():
  assert _comparison().verdict() == "bit-exact"
  assert _comparison(params_match=None).bit_exact
  parameters = _comparison(params_match=False)
  assert not parameters.bit_exact and parameters.verdict() == "final parameters differ"
  loss = _comparison(rerun_loss=2.5 + 1e-4, differing_fields=("final_eval_loss", "steps"))
  assert loss.loss_difference == pytest.approx(1e-4)
  assert loss.verdict() == "eval loss differs by +0.0001 nats/token; steps differ"
  failed = _comparison(rerun_loss=None, differing_fields=("status", "final_eval_loss"))
  assert failed.loss_difference is None and failed.verdict() == "status differ"


def test_another_machine_is_judged_within_the_tolerance():
  close = _comparison(rerun_loss=2.5 * (1 + 1e-4), differing_fields=("final_eval_loss",),
                      params_match=False, other_machine="run A, rerun B",
                      relative_loss_difference=1e-4)
  assert close.within_tolerance and close.passed and not close.bit_exact
  assert close.verdict().startswith("within tolerance (1.0e-04 <= 0.001 relative, another machine)")
  far = _comparison(rerun_loss=2.6, differing_fields=("final_eval_loss",), params_match=False,
                    other_machine="run A, rerun B", relative_loss_difference=0.04)
  assert not far.within_tolerance and not far.passed
  same_machine = _comparison(rerun_loss=2.5 * (1 + 1e-6), differing_fields=("final_eval_loss",),
                             relative_loss_difference=1e-6)
  assert not same_machine.passed
  steps = _comparison(differing_fields=("steps",), other_machine="run A, rerun B",
                      relative_loss_difference=0.0)
  assert not steps.passed
  table = reproduce.format_table([close, far])
  assert "0 of 2 run(s) bit-exact, 1 within tolerance from another machine" in table
  assert "machines differ: run A, rerun B" in table


def test_machines_and_loss_differences_from_the_records():
  run = {"machine": "A | cpu x1", "final_eval_loss": 2.0, "final_train_loss": 2.2}
  assert reproduce._machine_note(run, dict(run)) == ""
  assert reproduce._machine_note(run, {"machine": "B | cpu x1"}) == (
      "run A | cpu x1, rerun B | cpu x1")
  assert reproduce._machine_note({}, run) == "run not recorded, rerun A | cpu x1"
  rerun = {"final_eval_loss": 2.002, "final_train_loss": 2.2 * (1 - 1e-4)}
  assert reproduce._relative_loss_difference(run, rerun) == pytest.approx(1e-3)
  assert reproduce._relative_loss_difference(run, {}) is None


def test_a_bad_tolerance_is_one_line(capsys):
  assert reproduce.main(["reproduce", "somewhere"], tolerance=2.0) == 2
  assert capsys.readouterr().err.strip() == (
      "error: --tolerance=2.0 must be a relative loss difference in [0, 1), e.g. 0.001")


def _save_params(directory: pathlib.Path, params: dict) -> None:
  with ocp.CheckpointManager(directory.absolute() / "checkpoints",
                             item_names=("params",)) as manager:
    manager.save(3, args=ocp.args.Composite(params=ocp.args.StandardSave(params)))
    manager.wait_until_finished()


def test_params_hash_tracks_every_bit(tmp_path):
  params = {"embed": np.arange(6, dtype=np.float32).reshape(2, 3), "norm": np.ones(3, np.float32)}
  _save_params(tmp_path / "a", params)
  _save_params(tmp_path / "b", {key: value.copy() for key, value in params.items()})
  nudged = dict(params, norm=np.nextafter(params["norm"], np.float32(2)))
  _save_params(tmp_path / "c", nudged)
  assert reproduce.params_hash(tmp_path / "a") == reproduce.params_hash(tmp_path / "b")
  assert reproduce.params_hash(tmp_path / "a") != reproduce.params_hash(tmp_path / "c")
  assert reproduce.params_hash(tmp_path / "missing") is None


def test_bad_paths(tmp_path):
  with pytest.raises(ValueError, match="not a finished run"):
    reproduce.reproduce_run(tmp_path, tmp_path / "out")
  (tmp_path / layout.CONFIG_FILE).write_text("{}")
  (tmp_path / layout.RESULT_FILE).write_text(json.dumps({"status": "failed"}))
  with pytest.raises(ValueError, match="only completed or diverged"):
    reproduce.reproduce_run(tmp_path, tmp_path / "out")
  (tmp_path / "out").mkdir()
  (tmp_path / "out" / "result.json").write_text("{}")
  with pytest.raises(ValueError, match="is not empty"):
    reproduce.rerun(tmp_path, tmp_path / "out")
  sweep = tmp_path / "sweep"
  sweep.mkdir()
  (sweep / layout.SWEEP_FILE).write_text(json.dumps({"runs": []}))
  with pytest.raises(ValueError, match="no finished runs"):
    reproduce.reproduce(sweep)
