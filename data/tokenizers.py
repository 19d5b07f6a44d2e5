"""Tokenizers: bytes, SentencePiece and byte-level BPE (both trained on the corpus), token ids.

Every tokenizer maps text to int token ids and back and names one end-of-document id, which
`prepare` appends after every document. `vocab_size` counts every id the tokenizer can emit,
specials included, so a model needs `vocab_size` embedding rows or more. The byte-level BPE
(GPT-2 style: text as UTF-8 bytes, merges learned by the `tokenizers` library, which is imported
only when a BPE is trained or loaded) is saved as `tokenizer.json`.
"""
import pathlib
import random
import re
from typing import Iterable, Protocol

import ml_collections
import numpy as np
import sentencepiece

BYTE_VOCAB_SIZE = 257  # ids 0..255 are the bytes, 256 ends a document
BYTE_END_OF_DOCUMENT = 256
SENTENCEPIECE_MODEL_FILE = "tokenizer.model"
# SentencePiece special ids: unknown (never emitted with byte fallback) and end of document.
_SP_UNK_ID = 0
_SP_EOD_ID = 1
# Lines longer than this (in bytes) are left out of SentencePiece training, not out of the data.
_SP_MAX_SENTENCE_BYTES = 4192
BPE_MODEL_FILE = "tokenizer.json"
BPE_END_OF_DOCUMENT = "<|endoftext|>"  # the one special token of the BPE (and of HF exports)
BPE_MIN_VOCAB_SIZE = 256 + 1  # every byte, plus the end of document


class Tokenizer(Protocol):
  """Text <-> token ids. `vocab_size` counts all ids, specials included."""
  vocab_size: int
  end_of_document_id: int | None

  def encode(self, text: str) -> np.ndarray:
    """Returns the int32 token ids of `text`, without the end-of-document id."""

  def decode(self, ids: Iterable[int]) -> str:
    """Returns the text of `ids`; special ids are dropped."""


class ByteTokenizer:
  """UTF-8 bytes as ids 0..255, plus id 256 = end of document (257 symbols)."""
  vocab_size = BYTE_VOCAB_SIZE
  end_of_document_id = BYTE_END_OF_DOCUMENT

  def encode(self, text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int32)

  def decode(self, ids: Iterable[int]) -> str:
    data = bytes(int(i) for i in ids if 0 <= int(i) < 256)
    return data.decode("utf-8", errors="replace")


class TokenIdTokenizer:
  """For corpora that already are token ids (token files, the synthetic source).

  It cannot encode text; `decode` renders ids as space-separated integers.
  """

  def __init__(self, vocab_size: int):
    self.vocab_size = vocab_size
    self.end_of_document_id = None

  def encode(self, text: str) -> np.ndarray:
    raise ValueError("this corpus is pre-tokenized: it has token ids, not text to encode")

  def decode(self, ids: Iterable[int]) -> str:
    return " ".join(str(int(i)) for i in ids)


class SentencePieceTokenizer:
  """A trained SentencePiece model (BPE or unigram) with byte fallback: every text round-trips."""

  def __init__(self, model_file: str | pathlib.Path):
    self.model_file = pathlib.Path(model_file)
    self._processor = sentencepiece.SentencePieceProcessor(model_file=str(self.model_file))
    self.vocab_size = self._processor.get_piece_size()
    self.end_of_document_id = self._processor.eos_id()

  def encode(self, text: str) -> np.ndarray:
    return np.asarray(self._processor.encode(text), dtype=np.int32)

  def decode(self, ids: Iterable[int]) -> str:
    specials = (self.end_of_document_id, _SP_UNK_ID)
    return self._processor.decode([int(i) for i in ids if int(i) not in specials])


class BpeTokenizer:
  """A trained byte-level BPE (`tokenizers.Tokenizer` in `backend`): every text round-trips;
  `end_of_document_id` is the id of BPE_END_OF_DOCUMENT."""

  def __init__(self, model_file: str | pathlib.Path):
    from tokenizers import Tokenizer as Backend  # pylint: disable=import-outside-toplevel
    self.model_file = pathlib.Path(model_file)
    self.backend = Backend.from_file(str(self.model_file))
    self.vocab_size = self.backend.get_vocab_size()
    self.end_of_document_id = self.backend.token_to_id(BPE_END_OF_DOCUMENT)

  def encode(self, text: str) -> np.ndarray:
    return np.asarray(self.backend.encode(text, add_special_tokens=False).ids, dtype=np.int32)

  def decode(self, ids: Iterable[int]) -> str:
    return self.backend.decode([int(i) for i in ids], skip_special_tokens=True)


def train_bpe(documents: Iterable[str], vocab_size: int, output_file: str | pathlib.Path
              ) -> BpeTokenizer:
  """Trains a byte-level BPE of `vocab_size` ids (the 256 bytes, the end of document, merges) on
  `documents` (the training split) and saves it to `output_file` (a tokenizer.json). The same
  documents give the same merges. A corpus with too few distinct pairs yields fewer ids."""
  from tokenizers import Tokenizer as Backend  # pylint: disable=import-outside-toplevel
  from tokenizers import decoders, models, pre_tokenizers, trainers  # pylint: disable=import-outside-toplevel
  if vocab_size < BPE_MIN_VOCAB_SIZE:
    raise ValueError(f"data.tokenizer_vocab_size={vocab_size} is too small for a byte-level BPE: "
                     f"use at least {BPE_MIN_VOCAB_SIZE} (256 bytes and the end of document)")
  backend = Backend(models.BPE())
  backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  backend.decoder = decoders.ByteLevel()
  trainer = trainers.BpeTrainer(
      vocab_size=vocab_size, special_tokens=[BPE_END_OF_DOCUMENT], show_progress=False,
      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
  backend.train_from_iterator(documents, trainer=trainer)
  backend.save(str(output_file))
  return BpeTokenizer(output_file)


def _sample_lines(documents: Iterable[str], max_lines: int, seed: int) -> list[str]:
  """A seeded uniform sample (reservoir) of at most `max_lines` non-blank lines, in corpus order."""
  rng = random.Random(seed)
  reservoir: list[tuple[int, str]] = []
  seen = 0
  for text in documents:
    for line in text.splitlines():
      if not line.strip() or len(line.encode("utf-8")) > _SP_MAX_SENTENCE_BYTES:
        continue
      if len(reservoir) < max_lines:
        reservoir.append((seen, line))
      else:
        slot = rng.randrange(seen + 1)
        if slot < max_lines:
          reservoir[slot] = (seen, line)
      seen += 1
  return [line for _, line in sorted(reservoir)]


def train_sentencepiece(documents: Iterable[str], vocab_size: int, model_type: str,
                        output_file: str | pathlib.Path, seed: int = 0,
                        max_lines: int = 200_000) -> SentencePieceTokenizer:
  """Trains a SentencePiece model on the lines of `documents` and saves it to `output_file`.

  Args:
    documents: training texts (only the training split, so validation stays unseen).
    vocab_size: total vocabulary, including 256 byte-fallback pieces and the 2 specials.
    model_type: 'bpe' or 'unigram'.
    output_file: the `.model` file to write.
    seed: seeds the sampling of lines, so the same input gives the same model.
    max_lines: at most this many lines (a seeded sample) are used, to stay fast.
  """
  if model_type not in ("bpe", "unigram"):
    raise ValueError(f"data.tokenizer_model={model_type!r}: use 'bpe' or 'unigram'")
  minimum = 256 + 2 + 1
  if vocab_size < minimum:
    raise ValueError(f"data.tokenizer_vocab_size={vocab_size} is too small for SentencePiece with "
                     f"byte fallback: use at least {minimum}")
  output_file = pathlib.Path(output_file)
  lines = _sample_lines(documents, max_lines, seed)
  if not lines:
    raise ValueError(f"the training split has no line SentencePiece can learn from (every line is "
                     f"blank or longer than {_SP_MAX_SENTENCE_BYTES} bytes): add text with "
                     "shorter lines or set data.tokenizer=byte")
  try:
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_prefix=str(output_file.with_suffix("")),
        model_type=model_type,
        vocab_size=vocab_size,
        character_coverage=1.0,
        byte_fallback=True,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        allow_whitespace_only_pieces=True,
        split_digits=True,
        shuffle_input_sentence=False,
        max_sentence_length=_SP_MAX_SENTENCE_BYTES,
        unk_id=_SP_UNK_ID, eos_id=_SP_EOD_ID, bos_id=-1, pad_id=-1,
        num_threads=2,
        minloglevel=2,
    )
  except RuntimeError as error:
    raise _training_error(str(error), vocab_size, model_type) from error
  return SentencePieceTokenizer(output_file)


def _training_error(message: str, vocab_size: int, model_type: str) -> ValueError:
  """One line for a failed SentencePiece training (its RuntimeError is long and internal)."""
  too_large = re.search(r"Vocabulary size too high .*?<= (\d+)", message, re.DOTALL)
  if too_large:
    return ValueError(f"data.tokenizer_vocab_size={vocab_size} is larger than this corpus "
                      f"supports (at most {too_large.group(1)}): lower it or add text")
  too_small = re.search(r"smaller than required_chars\. \d+ vs (\d+)", message)
  if too_small:
    return ValueError(f"data.tokenizer_vocab_size={vocab_size} is smaller than the "
                      f"{too_small.group(1)} distinct characters and special pieces of this "
                      f"corpus: raise it to at least {too_small.group(1)}")
  detail = " ".join(message.split())
  return ValueError(f"SentencePiece training failed with data.tokenizer_vocab_size={vocab_size}, "
                    f"data.tokenizer_model={model_type!r} ({detail}): change those settings or "
                    "set data.tokenizer=byte")


def tokenizer_vocab_size(data_config: ml_collections.ConfigDict) -> int:
  """The number of token ids the configured corpus and tokenizer can emit (no preparation needed).

  A model's `vocab_size` must be at least this.
  """
  if data_config.corpus == "synthetic":
    return int(data_config.synthetic_vocab)
  if data_config.corpus == "tokens":
    if data_config.tokenizer_vocab_size <= 0:
      raise ValueError("data.tokenizer_vocab_size must be set for a token-file corpus: the "
                       "vocabulary of the tokenizer that wrote it (e.g. 50257 for GPT-2)")
    return int(data_config.tokenizer_vocab_size)
  if data_config.tokenizer == "byte":
    return BYTE_VOCAB_SIZE
  if data_config.tokenizer in ("sentencepiece", "bpe"):
    if data_config.tokenizer_vocab_size <= 0:
      raise ValueError(f"data.tokenizer_vocab_size must be > 0 for the {data_config.tokenizer} "
                       "tokenizer (e.g. 4096)")
    return int(data_config.tokenizer_vocab_size)
  raise ValueError(f"data.tokenizer={data_config.tokenizer!r}: use 'byte', 'sentencepiece' or "
                   "'bpe'")


def load_tokenizer(kind: str, vocab_size: int,
                   directory: str | pathlib.Path) -> Tokenizer:
  """The tokenizer a prepared directory was made with (`kind` as in its manifest)."""
  if kind == "byte":
    return ByteTokenizer()
  if kind == "sentencepiece":
    return SentencePieceTokenizer(pathlib.Path(directory) / SENTENCEPIECE_MODEL_FILE)
  if kind == "bpe":
    return BpeTokenizer(pathlib.Path(directory) / BPE_MODEL_FILE)
  if kind == "token_ids":
    return TokenIdTokenizer(vocab_size)
  raise ValueError(f"unknown tokenizer {kind!r} in the manifest: prepare the data again")
