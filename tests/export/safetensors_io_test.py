"""Parameter files: names, round trips, metadata, and one-line errors for bad files."""
import base64
import dataclasses
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from safetensors import numpy as safetensors_numpy

from data import tokenizers
from export import runner
from export import safetensors_io


def _export(model, path, tokenizer=None, provenance=None):
  metadata = safetensors_io.build_metadata(model.config, tokenizer or tokenizers.ByteTokenizer(),
                                           provenance or {"tokens_trained": 123})
  tensors = safetensors_io.params_to_tensors(nnx.state(model, nnx.Param))
  return safetensors_io.write(path, tensors, metadata), metadata, tensors


@pytest.mark.parametrize("tie_embeddings", [True, False])
def test_names_and_shapes_are_the_runners(build_model, tie_embeddings):
  model = build_model(tie_embeddings=tie_embeddings)
  tensors = safetensors_io.params_to_tensors(nnx.state(model, nnx.Param))
  expected = runner.tensor_shapes(dataclasses.asdict(model.config))
  assert {name: array.shape for name, array in tensors.items()} == expected
  assert ("head.kernel" in tensors) != tie_embeddings
  parameters = sum(array.size for array in tensors.values())
  assert parameters == sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))


def test_round_trip_through_the_file(build_model, host_params, tmp_path):
  model = build_model(tie_embeddings=False)
  path, metadata, tensors = _export(model, tmp_path / "model.safetensors")
  umask = os.umask(0)
  os.umask(umask)
  assert path.stat().st_mode & 0o777 == 0o666 & ~umask
  read_metadata, read_tensors = safetensors_io.read(path)
  assert read_metadata == metadata
  assert sorted(read_tensors) == sorted(tensors)
  back = safetensors_io.tensors_to_params(read_tensors, model.config.n_layers)
  original = host_params(model)
  flat = lambda tree: safetensors_io.params_to_tensors(tree)  # noqa: E731
  for name, array in flat(original).items():
    np.testing.assert_array_equal(flat(back)[name], array)
  assert back["blocks"]["attention"]["query"]["kernel"].shape == (2, 32, 4, 8)


def test_the_file_opens_with_safetensors_alone(build_model, tmp_path):
  path, _, tensors = _export(build_model(), tmp_path / "model.safetensors",
                             provenance={"config_hash": "f00", "tokens_trained": 384,
                                         "final_eval_loss": 2.5})
  loaded = safetensors_numpy.load_file(str(path))
  np.testing.assert_array_equal(loaded["embed.embedding"], tensors["embed.embedding"])
  from safetensors import safe_open  # pylint: disable=import-outside-toplevel
  with safe_open(str(path), framework="numpy") as handle:
    metadata = handle.metadata()
  assert json.loads(metadata["model_config"])["n_kv_heads"] == 2
  assert json.loads(metadata["provenance"]) == {"config_hash": "f00", "tokens_trained": 384,
                                                "final_eval_loss": 2.5}
  assert json.loads(metadata["tokenizer"]) == {"kind": "byte", "vocab_size": 257,
                                               "end_of_document_id": 256}


def test_bfloat16_parameters_are_stored_as_float32(build_model, host_params):
  float32_params = host_params(build_model())
  bfloat16_params = jax.tree.map(lambda x: jnp.asarray(x, jnp.bfloat16), float32_params)
  tensors = safetensors_io.params_to_tensors(bfloat16_params)
  assert {array.dtype for array in tensors.values()} == {np.dtype(np.float32)}
  expected = np.asarray(jnp.asarray(float32_params["final_norm"]["scale"], jnp.bfloat16),
                        np.float32)
  np.testing.assert_array_equal(tensors["final_norm.scale"], expected)


def test_sentencepiece_model_travels_in_the_metadata(tmp_path):
  lines = [f"def function_{i}(value):\n  return value * {i} + {i % 7}\n" for i in range(300)]
  trained = tokenizers.train_sentencepiece(lines, 300, "bpe", tmp_path / "tokenizer.model")
  metadata = safetensors_io.tokenizer_metadata(trained)
  proto = (tmp_path / "tokenizer.model").read_bytes()
  assert base64.b64decode(metadata["tokenizer_model"]) == proto
  restored = runner.Tokenizer(metadata)
  text = "def function_12(value):\n  return ünïcode\n"
  assert restored.encode(text) == trained.encode(text).tolist()
  assert restored.decode(restored.encode(text) + [trained.end_of_document_id]) == text


def _main_error(capsys, path) -> str:
  """Runs the runner's command line on `path`; returns its one-line error."""
  assert runner.main([str(path), "--prompt=hi"]) == 2
  captured = capsys.readouterr()
  assert captured.out == "" and "Traceback" not in captured.err
  lines = captured.err.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: ")
  return lines[0]


def test_truncated_file_is_one_line(build_model, tmp_path, capsys):
  path = _export(build_model(), tmp_path / "model.safetensors")[0]
  path.write_bytes(path.read_bytes()[:5000])
  assert "truncated or corrupt" in _main_error(capsys, path)


def test_foreign_files_are_one_line(tmp_path, capsys):
  other = tmp_path / "other.safetensors"
  safetensors_numpy.save_file({"weight": np.zeros((2, 2), np.float32)}, str(other))
  assert "without scaling-lab metadata" in _main_error(capsys, other)
  text = tmp_path / "notes.txt"
  text.write_text("not a parameter file")
  assert "not a readable safetensors file" in _main_error(capsys, text)
  assert "no such file" in _main_error(capsys, tmp_path / "missing.safetensors")


def test_missing_tensor_is_one_line(build_model, tmp_path, capsys):
  _, metadata, tensors = _export(build_model(), tmp_path / "full.safetensors")
  del tensors["blocks.1.mlp.up.kernel"]
  path = tmp_path / "model.safetensors"
  safetensors_numpy.save_file(tensors, str(path), metadata=metadata)
  assert "lacks tensor 'blocks.1.mlp.up.kernel'" in _main_error(capsys, path)
  with pytest.raises(ValueError, match="lacks tensor"):
    safetensors_io.write(tmp_path / "again.safetensors", tensors, metadata)


def test_config_that_does_not_match_the_shapes_is_one_line(build_model, tmp_path, capsys):
  _, metadata, tensors = _export(build_model(), tmp_path / "full.safetensors")
  config = json.loads(metadata["model_config"])
  path = tmp_path / "model.safetensors"
  safetensors_numpy.save_file(tensors, str(path), metadata=dict(
      metadata, model_config=json.dumps(dict(config, d_ff=config["d_ff"] * 2))))
  assert "config and tensors differ" in _main_error(capsys, path)
  safetensors_numpy.save_file(tensors, str(path), metadata=dict(
      metadata, model_config=json.dumps(dict(config, n_layers=1))))
  assert "holds tensor 'blocks.1." in _main_error(capsys, path)


def test_cli_error_has_no_traceback(tmp_path):
  path = tmp_path / "model.safetensors"
  path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":")
  completed = subprocess.run([sys.executable, runner.__file__, str(path), "--prompt=x"],
                             capture_output=True, text=True, timeout=60, check=False)
  assert completed.returncode == 2
  assert completed.stderr.startswith("error: ") and "Traceback" not in completed.stderr
  assert len(completed.stderr.strip().splitlines()) == 1
