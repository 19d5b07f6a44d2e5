"""The byte-level BPE tokenizer (data/tokenizers.py): training, round trips, its errors."""
import pathlib
import sysconfig

import numpy as np
import pytest

from configs import base
from data import tokenizers

pytest.importorskip("tokenizers")


@pytest.fixture(scope="module")
def python_sources() -> list[str]:
  """40 documents of real Python source (the first 4000 characters of stdlib modules)."""
  files = sorted(pathlib.Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))[:40]
  return [path.read_text()[:4000] for path in files]


def test_trained_bpe_round_trips_and_compresses(python_sources, tmp_path):
  bpe = tokenizers.train_bpe(python_sources, 400, tmp_path / "tokenizer.json")
  assert bpe.vocab_size == 400
  assert bpe.end_of_document_id == 0
  text = "def naïve(x):\n    return x  # ünïcode, tabs\t and emoji \U0001F600\n"
  ids = bpe.encode(text)
  assert ids.dtype == np.int32 and ids.min() >= 1 and ids.max() < 400
  assert bpe.decode(ids) == text
  assert bpe.decode([*ids, bpe.end_of_document_id]) == text
  source = python_sources[0]
  assert len(bpe.encode(source)) < 0.6 * len(source.encode("utf-8"))
  tokenizers.train_bpe(python_sources, 400, tmp_path / "again.json")
  assert (tmp_path / "again.json").read_text() == (tmp_path / "tokenizer.json").read_text()
  loaded = tokenizers.load_tokenizer("bpe", 400, tmp_path)
  np.testing.assert_array_equal(loaded.encode(source), bpe.encode(source))


def test_bpe_vocabulary_size_errors(python_sources, tmp_path):
  with pytest.raises(ValueError, match="tokenizer_vocab_size=200 is too small.*at least 257"):
    tokenizers.train_bpe(python_sources, 200, tmp_path / "tokenizer.json")
  data = base.get_config().data
  data.tokenizer = "bpe"
  with pytest.raises(ValueError, match="tokenizer_vocab_size must be > 0 for the bpe tokenizer"):
    tokenizers.tokenizer_vocab_size(data)
  data.tokenizer_vocab_size = 1024
  assert tokenizers.tokenizer_vocab_size(data) == 1024
