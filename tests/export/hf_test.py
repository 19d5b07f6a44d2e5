"""The Hugging Face export (export/hf.py): transformers loads it as Llama with our logits."""
import json
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from data import tokenizers
from export import hf

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

TEXT = "def naïve(x):\n    return x  # ünïcode\n"


def _logits_agree(model, directory) -> None:
  """HF's logits for a batch of 3 full-length random sequences equal our forward to 1e-4."""
  loaded = transformers.AutoModelForCausalLM.from_pretrained(directory)
  assert type(loaded).__name__ == "LlamaForCausalLM"
  tokens = np.random.default_rng(0).integers(0, model.config.vocab_size, (3, model.config.seq_len))
  expected = np.asarray(model(jnp.asarray(tokens)))
  with torch.no_grad():
    actual = loaded(torch.as_tensor(tokens)).logits.numpy()
  np.testing.assert_allclose(actual, expected, atol=1e-4, rtol=0)


def test_tied_byte_run_exports_its_config_weights_and_tokenizer(tiny_run, tmp_path):
  path, model = tiny_run
  out = tmp_path / "hf"
  assert hf.export_run_hf(path, out).has_tokenizer
  config = json.loads((out / "config.json").read_text())
  assert config["model_type"] == "llama" and config["tie_word_embeddings"] is True
  assert (config["num_attention_heads"], config["num_key_value_heads"]) == (4, 2)
  assert config["rope_parameters"]["rope_theta"] == model.config.rope_theta
  assert config["rms_norm_eps"] == model.config.norm_eps
  assert config["eos_token_id"] == tokenizers.BYTE_END_OF_DOCUMENT
  _logits_agree(model, out)
  tokenizer = transformers.AutoTokenizer.from_pretrained(out)
  assert tokenizer(TEXT).input_ids == tokenizers.ByteTokenizer().encode(TEXT).tolist()
  assert tokenizer.eos_token_id == tokenizers.BYTE_END_OF_DOCUMENT
  assert tokenizer.decode(tokenizer(TEXT).input_ids) == TEXT


def test_untied_bpe_run_exports_its_head_and_tokenizer(build_model, make_run_dir, tmp_path):
  model = build_model(tie_embeddings=False, rope_theta=500.0, norm_eps=1e-5)
  path = make_run_dir(tmp_path / "run", model, step=2, result=None)
  bpe = tokenizers.train_bpe([TEXT * 3, "import os\nimport sys\n" * 5], 262,
                             path / "tokenizer.json")
  config = json.loads((path / "config.json").read_text())
  config["data"].update(tokenizer="bpe", tokenizer_vocab_size=262)
  (path / "config.json").write_text(json.dumps(config))
  exported = hf.export_run_hf(path, tmp_path / "hf")
  assert exported.has_tokenizer
  weights = json.loads((tmp_path / "hf" / "config.json").read_text())
  assert weights["tie_word_embeddings"] is False
  _logits_agree(model, tmp_path / "hf")
  tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
  assert tokenizer(TEXT).input_ids == bpe.encode(TEXT).tolist()
  assert tokenizer.eos_token_id == bpe.end_of_document_id


@pytest.mark.entry
def test_command_line_refuses_a_run_without_a_checkpoint_in_one_line(tiny_run, tmp_path):
  run = tmp_path / "run"
  run.mkdir()
  (run / "config.json").write_text((tiny_run[0] / "config.json").read_text())
  completed = subprocess.run(
      [sys.executable, "-m", "scaling", "export", str(run), "--format=hf",
       f"--out={tmp_path / 'hf'}"], capture_output=True, text=True, timeout=300, check=False)
  assert completed.returncode == 2 and "Traceback" not in completed.stderr
  assert completed.stderr.strip().splitlines()[-1] == (
      f"error: {run / 'checkpoints'} holds no complete checkpoint: train the run first")
  assert not (tmp_path / "hf").exists()
