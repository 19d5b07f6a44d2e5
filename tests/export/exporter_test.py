"""Exporting run directories: the two files, provenance, and what the exported runner computes."""
import json
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from export import exporter
from export import run_dir
from export import runner
from export import safetensors_io


def test_export_writes_exactly_two_files_that_reproduce_the_model(tiny_run, tmp_path):
  path, model = tiny_run
  exported = exporter.export_run(path, tmp_path / "out")
  assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["model.safetensors", "run.py"]
  assert exported.runner_file.read_text() == open(runner.__file__).read()
  metadata, tensors = safetensors_io.read(exported.parameter_file)
  provenance = json.loads(metadata["provenance"])
  assert provenance["tokens_trained"] == 6 * 4 * 16  # step 6 x batch 4 x seq_len 16
  assert provenance["final_eval_loss"] == 2.5 and provenance["status"] == "completed"
  assert provenance["step"] == 6 and provenance["run_id"] == "run_a"
  assert len(provenance["config_hash"]) == 64
  tokens = np.arange(40, 56)
  expected = np.asarray(model(jnp.asarray(tokens)[None]))[0]
  actual = runner.Model(runner.model_config(metadata), tensors).forward(tokens)
  np.testing.assert_allclose(actual, expected, atol=1e-4, rtol=0)


def test_a_checkpointed_run_exports_without_a_result(build_model, make_run_dir, tmp_path):
  path = make_run_dir(tmp_path / "partial", build_model(tie_embeddings=False), step=3,
                      result=None)
  loaded = run_dir.load_run(path)
  assert loaded.provenance["status"] == "checkpointed"
  assert loaded.provenance["final_eval_loss"] is None
  assert loaded.provenance["tokens_trained"] == 3 * 64
  assert loaded.params["head"]["kernel"].shape == (32, 264)


def test_bad_run_directories_are_refused(tmp_path):
  with pytest.raises(ValueError, match="not a run directory"):
    run_dir.load_run(tmp_path)
  (tmp_path / "config.json").write_text(json.dumps({"model": {"d_model": 32, "n_heads": 4}}))
  (tmp_path / "checkpoints").mkdir()
  with pytest.raises(ValueError, match="no complete checkpoint"):
    run_dir.load_run(tmp_path)


@pytest.mark.entry
def test_command_line_export_then_standalone_run(tiny_run, tmp_path):
  path, _ = tiny_run
  out = tmp_path / "exported"
  subprocess.run([sys.executable, "-m", "scaling", "export", str(path), f"--out={out}"],
                 check=True, capture_output=True, text=True, timeout=300)
  probe = ("import runpy, sys\n"
           f"sys.argv = ['run.py', {str(out / 'model.safetensors')!r}, '--prompt=def ',"
           " '--max_new_tokens=8', '--seed=1']\n"
           "try:\n"
           f"  runpy.run_path({str(out / 'run.py')!r}, run_name='__main__')\n"
           "except SystemExit as end:\n"
           "  assert not end.code, end.code\n"
           "assert not any(m.split('.')[0] in ('jax', 'flax') for m in sys.modules)\n")
  completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                             timeout=120, check=False)
  assert completed.returncode == 0, completed.stderr
  assert completed.stdout.startswith("def ")
  assert "tokens/s" in completed.stderr


@pytest.mark.entry
def test_command_line_errors_are_one_line(tmp_path):
  completed = subprocess.run([sys.executable, "-m", "scaling", "sample", str(tmp_path),
                              "--prompt=x"], capture_output=True, text=True, timeout=300,
                             check=False)
  assert completed.returncode == 2 and "Traceback" not in completed.stderr
  assert completed.stderr.strip().splitlines()[-1].startswith(
      f"error: {tmp_path} is neither a run directory")
