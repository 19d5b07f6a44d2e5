"""Bad input and faults on the training side: each ends as one line and the right exit code.

Usage, data and workdir errors exit 2 (nothing ran; relaunching cannot help), a run that started
and failed exits 1 with its traceback in result.json, never on the console. A corrupt newest
checkpoint falls back to the newest intact one.
"""
import errno
import json
import os
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest
from absl import flags

import train
from configs import tiny
from records import atomic
from records import cli
from training import loop, preemption, validate

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY_OVERRIDES = (  # a few seconds of training, were a refused run ever to start
    "--config.model.d_model=32", "--config.model.d_ff=64", "--config.model.seq_len=32",
    "--config.data.synthetic_tokens=100000", "--config.data.val_fraction=0.2",
    "--config.train.batch_size=8", "--config.train.train_tokens=2048",
    "--config.train.warmup_tokens=512", "--config.train.eval_tokens=512")


def _train_py(workdir: pathlib.Path, *overrides: str) -> subprocess.CompletedProcess:
  return subprocess.run(
      [sys.executable, "train.py", "--config=configs/tiny.py", f"--workdir={workdir}",
       *TINY_OVERRIDES, *overrides], cwd=PROJECT_ROOT, capture_output=True, text=True,
      timeout=300)


def _main(workdir: pathlib.Path, monkeypatch, error: Exception) -> int:
  """train.main in-process with train_and_evaluate raising `error`; returns the exit code."""
  monkeypatch.chdir(PROJECT_ROOT)
  flags.FLAGS.unparse_flags()
  flags.FLAGS(["train.py", "--config=configs/tiny.py", f"--workdir={workdir}"])

  def fail(config, workdir, **options):
    raise error

  monkeypatch.setattr(loop, "train_and_evaluate", fail)
  return train.main(["train.py"])


@pytest.fixture
def read_only_dir(tmp_path) -> pathlib.Path:
  """A directory on a read-only file system (a tmpfs mounted ro: even root cannot write)."""
  mount_point = tmp_path / "read_only"
  mount_point.mkdir()
  mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro", "tmpfs", str(mount_point)],
                           capture_output=True, check=False)
  if mounted.returncode:
    pytest.skip("cannot mount a read-only tmpfs here")
  yield mount_point
  subprocess.run(["umount", str(mount_point)], check=True)


# Case: an unused data field is accepted and enters the config hash.

@pytest.mark.parametrize("fields, message", [
    (dict(corpus="synthetic", tokenizer="sentencepiece"),
     r"^config.data.tokenizer='sentencepiece' is ignored with data.corpus='synthetic'; remove "
     r"it \(or set it to 'byte'\), or use data.corpus='stdlib' or 'files', which reads it$"),
    (dict(corpus="synthetic", tokenizer_vocab_size=4096),
     r"tokenizer_vocab_size=4096 is ignored .* use data.corpus='tokens' or "
     r"data.tokenizer='sentencepiece'"),
    (dict(corpus="stdlib", tokenizer="byte", tokenizer_model="unigram"),
     r"tokenizer_model='unigram' is ignored with data.corpus='stdlib' and data.tokenizer='byte'"),
    (dict(corpus="stdlib", path="/data/text"), r"data.path='/data/text' is ignored"),
    (dict(corpus="tokens", path="t.bin", token_dtype="uint16", tokenizer_vocab_size=1000,
          text_field="body"), r"data.text_field='body' is ignored with data.corpus='tokens'"),
])
def test_a_field_the_corpus_ignores_is_rejected(tiny_config, fields, message):
  tiny_config.data.update(**fields)
  with pytest.raises(validate.ConfigError, match=message):
    validate.validate_config(tiny_config, device_count=1)


@pytest.mark.parametrize("fields", [
    dict(corpus="files", path="/data", text_field="body", tokenizer="sentencepiece",
         tokenizer_vocab_size=4096, tokenizer_model="unigram"),
    dict(corpus="tokens", path="t.bin", token_dtype="uint16", tokenizer_vocab_size=1000),
])
def test_fields_the_corpus_reads_pass(tiny_config, fields):
  tiny_config.data.update(**fields)
  validate.check_data_fields(tiny_config.data)


@pytest.mark.parametrize("arg", [None, "text"])
def test_the_shipped_run_presets_pass(arg):
  validate.check_data_fields(tiny.get_config(arg).data)  # the sweeps: tests/configs


# Case: a workdir that cannot be created or written is one line, not a traceback.

@pytest.mark.parametrize("make_workdir, message", [
    (lambda root: root / "a_file" / "run", r"^cannot use --workdir: .*a_file/run: Not a "
                                           r"directory \(a parent of it is a file: correct"),
    (lambda root: root / "a_file", r"a_file is a file, not a directory; choose another"),
    (lambda root: pathlib.Path("/sys/scaling-lab-run"), r"^cannot use --workdir: "
                                                        r"/sys/scaling-lab-run: .*permission"),
])
def test_an_unusable_workdir_is_one_line(tiny_config, tmp_path, make_workdir, message):
  (tmp_path / "a_file").write_text("")
  with pytest.raises(validate.WorkdirError, match=message):
    loop.train_and_evaluate(tiny_config, make_workdir(tmp_path), devices=jax.devices()[:1])


def test_a_read_only_workdir_is_one_line(tiny_config, read_only_dir):
  for workdir in (read_only_dir, read_only_dir / "run"):
    with pytest.raises(validate.WorkdirError, match=rf"^cannot use --workdir: {workdir}: "
                                                    r"Read-only file system \(the file system"):
      loop.train_and_evaluate(tiny_config, workdir, devices=jax.devices()[:1])


@pytest.mark.entry
def test_train_py_refuses_a_bad_workdir_in_one_line_exit_2(tmp_path):
  (tmp_path / "a_file").write_text("")
  completed = _train_py(tmp_path / "a_file" / "run")
  assert completed.returncode == cli.EXIT_USAGE
  assert completed.stderr.splitlines() == [
      f"error: cannot use --workdir: {tmp_path}/a_file/run: Not a directory (a parent of it is "
      f"a file: correct the path)"]


@pytest.mark.entry
def test_train_py_refuses_an_ignored_field_in_one_line_exit_2_and_records_it(tmp_path):
  completed = _train_py(tmp_path / "new" / "run", "--config.data.tokenizer=sentencepiece")
  assert completed.returncode == cli.EXIT_USAGE
  [line] = completed.stderr.splitlines()
  assert line.startswith("error: config.data.tokenizer='sentencepiece' is ignored with ")
  result = json.loads((tmp_path / "new" / "run" / "result.json").read_text())
  assert result["status"] == "failed" and result["error"] == line[len("error: "):]
  assert "traceback" not in result  # a refused run has none to keep


# Case: a run failure is one line; its traceback is kept in result.json.

def test_a_run_failure_is_one_line_with_its_traceback_in_result_json(tmp_path, monkeypatch,
                                                                      capsys):
  code = _main(tmp_path, monkeypatch, RuntimeError("out of memory\nwhile allocating 2 GiB"))
  assert code == preemption.EXIT_FAILED
  assert capsys.readouterr().err.splitlines() == [
      f"error: run failed: RuntimeError: out of memory while allocating 2 GiB (traceback in "
      f"{tmp_path}/result.json)"]
  result = json.loads((tmp_path / "result.json").read_text())
  assert result["status"] == "failed"
  assert result["error"] == "RuntimeError: out of memory while allocating 2 GiB"
  assert result["traceback"].startswith("Traceback (most recent call last)")
  assert "in fail\n" in result["traceback"]


def test_a_config_error_exits_2_and_is_recorded(tmp_path, monkeypatch, capsys):
  code = _main(tmp_path, monkeypatch, validate.ConfigError("config.train.train_tokens=100 is "
                                                           "below one step"))
  assert code == cli.EXIT_USAGE
  assert capsys.readouterr().err == "error: config.train.train_tokens=100 is below one step\n"
  result = json.loads((tmp_path / "result.json").read_text())
  assert result["status"] == "failed" and "traceback" not in result


def test_a_failure_handler_that_cannot_write_says_so_on_the_same_line(tmp_path, monkeypatch,
                                                                      capsys):
  def disk_full(path, payload):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

  monkeypatch.setattr(atomic, "write_json_atomic", disk_full)
  code = _main(tmp_path, monkeypatch, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC),
                                              str(tmp_path / "metrics.jsonl")))
  assert code == preemption.EXIT_FAILED
  [line] = capsys.readouterr().err.splitlines()
  assert line == (
      f"error: run failed: OSError: {tmp_path}/metrics.jsonl: No space left on device (the disk "
      f"is full: free space or choose another disk); {tmp_path}/result.json could not be "
      f"written: {tmp_path}/result.json: No space left on device (the disk is full: free space "
      f"or choose another disk)")
  assert not (tmp_path / "result.json").exists()


# Case: a corrupt newest checkpoint falls back to the intact older one; none intact is one line.


def _corrupt(step_dir: pathlib.Path) -> None:
  """Truncates the largest parameter file of a checkpoint to half its size."""
  largest = max((path for path in (step_dir / "params").rglob("*") if path.is_file()),
                key=lambda path: path.stat().st_size)
  os.truncate(largest, largest.stat().st_size // 2)


def _steps(workdir: pathlib.Path) -> list[int]:
  return sorted(int(path.name) for path in (workdir / "checkpoints").iterdir()
                if path.name.isdigit())


@pytest.mark.slow
def test_a_corrupt_newest_checkpoint_falls_back_and_resumes_bit_identically(
    tiny_config, tmp_path, caplog, stop_at, final_params):
  devices = jax.devices()[:1]
  straight = loop.train_and_evaluate(tiny_config, tmp_path / "straight", devices=devices)
  workdir = tmp_path / "not" / "yet" / "there"  # created with its parents
  assert loop.train_and_evaluate(tiny_config, workdir, devices=devices,
                                 preemption=stop_at(6))["status"] == "preempted"
  assert _steps(workdir) == [4, 6]
  _corrupt(workdir / "checkpoints" / "6")
  killed = subprocess.Popen([sys.executable, "-c", ""])
  killed.wait()
  stale = workdir / f".result.json.tmp-{killed.pid}-deadbeef"  # left by a writer now gone
  stale.write_text("{")

  caplog.set_level("WARNING")
  resumed = loop.train_and_evaluate(tiny_config, workdir, devices=devices)
  warnings = [record.getMessage() for record in caplog.records]
  assert any(f"checkpoint at step 6 in {workdir / 'checkpoints'} cannot be restored (" in line
             for line in warnings), warnings
  assert any("deleted the unreadable checkpoint(s) at step(s) 6; resuming from the intact one "
             "at step 4" in line for line in warnings), warnings
  assert resumed["final_eval_loss"] == straight["final_eval_loss"]
  assert resumed["final_train_loss"] == straight["final_train_loss"]
  for expected, actual in zip(final_params(tmp_path / "straight"), final_params(workdir),
                              strict=True):
    np.testing.assert_array_equal(actual, expected)
  assert not stale.exists()

  for step in _steps(workdir):
    _corrupt(workdir / "checkpoints" / str(step))
  with pytest.raises(validate.ConfigError) as refused:
    loop.train_and_evaluate(tiny_config, workdir, devices=devices)
  message = str(refused.value)
  assert message.startswith(f"no checkpoint in {workdir / 'checkpoints'} can be restored (step "
                            f"8: ValueError: OUT_OF_RANGE")
  assert message.endswith(f"; delete {workdir / 'checkpoints'} to restart the run from step 0")
  assert "\n" not in message and len(message) < 600  # not TensorStore's 2 KB spec
