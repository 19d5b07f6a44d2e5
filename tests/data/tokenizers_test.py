"""Tests for data/tokenizers.py."""
import pathlib

import numpy as np
import pytest

from configs import base
from data import tokenizers

SAMPLE = 'def naïve(x):\n\treturn "€ 😀"  # tab, spaces\r\n\n  trailing   \n'


def _documents() -> list[str]:
  root = pathlib.Path(tokenizers.__file__).parent
  return [path.read_text() for path in sorted(root.glob("*.py"))] * 3


def test_byte_round_trip_and_ids():
  tokenizer = tokenizers.ByteTokenizer()
  ids = tokenizer.encode(SAMPLE)
  assert ids.dtype == np.int32
  np.testing.assert_array_equal(ids, list(SAMPLE.encode("utf-8")))
  assert tokenizer.decode(ids) == SAMPLE
  assert tokenizer.decode(list(ids) + [tokenizer.end_of_document_id]) == SAMPLE
  assert tokenizer.vocab_size == 257 and tokenizer.end_of_document_id == 256


@pytest.mark.parametrize("model_type", ["bpe", "unigram"])
def test_sentencepiece_round_trip(tmp_path, model_type):
  tokenizer = tokenizers.train_sentencepiece(_documents(), 400, model_type,
                                             tmp_path / "tokenizer.model")
  assert (tmp_path / "tokenizer.model").is_file()
  assert tokenizer.vocab_size == 400
  for text in [SAMPLE, _documents()[0]]:
    ids = tokenizer.encode(text)
    assert ids.max() < 400 and ids.min() >= 0
    assert tokenizer.decode(ids) == text
  training_text = "".join(_documents())
  assert len(tokenizer.encode(training_text)) < len(training_text.encode("utf-8")) / 1.25
  reloaded = tokenizers.load_tokenizer("sentencepiece", 400, tmp_path)
  np.testing.assert_array_equal(reloaded.encode(SAMPLE), tokenizer.encode(SAMPLE))


def test_sentencepiece_vocab_too_large_for_corpus(tmp_path):
  with pytest.raises(ValueError, match=r"tokenizer_vocab_size=5000 is larger than this corpus "
                     r"supports \(at most \d+\)"):
    tokenizers.train_sentencepiece(["tiny text\n"] * 10, 5000, "bpe", tmp_path / "t.model")


def test_sentencepiece_bad_settings(tmp_path):
  with pytest.raises(ValueError, match="tokenizer_vocab_size=100 is too small"):
    tokenizers.train_sentencepiece(_documents(), 100, "bpe", tmp_path / "t.model")
  with pytest.raises(ValueError, match="tokenizer_model='wordpiece'"):
    tokenizers.train_sentencepiece(_documents(), 400, "wordpiece", tmp_path / "t.model")


def test_tokenizer_vocab_size():
  data = base.get_config().data
  assert tokenizers.tokenizer_vocab_size(data) == 257
  data.corpus = "synthetic"
  assert tokenizers.tokenizer_vocab_size(data) == data.synthetic_vocab
  data.corpus, data.tokenizer_vocab_size = "tokens", 50257
  assert tokenizers.tokenizer_vocab_size(data) == 50257
  data.corpus, data.tokenizer, data.tokenizer_vocab_size = "stdlib", "sentencepiece", 0
  with pytest.raises(ValueError, match="tokenizer_vocab_size must be > 0"):
    tokenizers.tokenizer_vocab_size(data)
  data.tokenizer = "wordpiece"
  with pytest.raises(ValueError, match="data.tokenizer='wordpiece'"):
    tokenizers.tokenizer_vocab_size(data)
  data.corpus, data.tokenizer_vocab_size = "tokens", 0
  with pytest.raises(ValueError, match="must be set for a token-file corpus"):
    tokenizers.tokenizer_vocab_size(data)


def test_token_id_tokenizer_cannot_encode():
  tokenizer = tokenizers.TokenIdTokenizer(64)
  assert tokenizer.decode([3, 1, 4]) == "3 1 4"
  with pytest.raises(ValueError, match="pre-tokenized"):
    tokenizer.encode("text")


def test_sentencepiece_is_deterministic_for_a_seed(tmp_path):
  def pieces(name: str, seed: int) -> list[str]:
    tokenizer = tokenizers.train_sentencepiece(_documents() * 4, 400, "bpe", tmp_path / name,
                                               seed=seed, max_lines=300)
    return [tokenizer._processor.id_to_piece(i) for i in range(tokenizer.vocab_size)]

  assert pieces("a.model", seed=0) == pieces("b.model", seed=0)
  assert pieces("a.model", seed=0) != pieces("c.model", seed=1)
