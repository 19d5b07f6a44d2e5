"""Loss as compression: bits per byte of a model and of standard compressors on the same data.

A model with held-out loss L (nats/token) codes text in L / ln 2 bits per token (arithmetic
coding gets within a few bits of that per file), so on text with b UTF-8 bytes per token it
needs L / ln 2 / b bits per byte. The validation split's bytes per token are measured when the
data is prepared (`Prepared.bytes_per_token`). The baselines are the standard library's gzip,
bz2 and lzma at level 9 on the same validation text: 8 x compressed bytes / raw bytes.

Corpora without text (synthetic or pre-tokenized ids) have no bytes; for them everything is in
bits per token, and the compressors see each token id as one byte (vocabularies up to 256) or
as a little-endian uint16/uint32.
"""
import bz2
import dataclasses
import gzip
import lzma
import math
from typing import Callable

import numpy as np

from data import preparation

COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "gzip -9": lambda data: gzip.compress(data, compresslevel=9, mtime=0),
    "bz2 -9": lambda data: bz2.compress(data, compresslevel=9),
    "lzma -9": lambda data: lzma.compress(data, preset=9),
}


# The model's side of the comparison; its one home is beside `Prepared.bytes_per_token`.
bits_per_byte = preparation.bits_per_byte


def compressed_bits_per_byte(data: bytes) -> dict[str, float]:
  """8 x compressed size / raw size for every compressor in COMPRESSORS (bits per input byte)."""
  if not data:
    raise ValueError("cannot measure compression of empty data")
  return {name: 8 * len(compress(data)) / len(data) for name, compress in COMPRESSORS.items()}


def documents(tokens: np.ndarray, end_of_document_id: int) -> list[np.ndarray]:
  """The documents of a token stream in which each document ends with end_of_document_id
  (the end ids are dropped; a trailing unterminated part counts as a document)."""
  ends = np.flatnonzero(np.asarray(tokens) == end_of_document_id)
  starts = np.concatenate([[0], ends + 1])
  stops = np.concatenate([ends, [len(tokens)]])
  return [np.asarray(tokens[start:stop]) for start, stop in zip(starts, stops) if stop > start]


@dataclasses.dataclass(frozen=True)
class SplitData:
  """The validation split as compressors see it. `unit` is 'byte' for text (data is its UTF-8)
  or 'token' for token-id corpora (data packs one id per `bytes_per_unit` bytes)."""
  data: bytes
  unit: str
  units: int
  tokens: int


def validation_data(prepared: preparation.Prepared) -> SplitData:
  """The validation split's text bytes (decoded document by document, so the byte count equals
  the manifest's val_bytes), or its token ids packed as bytes when the corpus has no text."""
  tokens = np.asarray(prepared.val_tokens)
  if prepared.bytes_per_token is None:
    vocab = int(prepared.manifest["vocab_size"])
    dtype = np.uint8 if vocab <= 256 else np.dtype("<u2") if vocab <= 1 << 16 else np.dtype("<u4")
    return SplitData(tokens.astype(dtype).tobytes(), "token", len(tokens), len(tokens))
  tokenizer = prepared.tokenizer
  text = b"".join(tokenizer.decode(document.tolist()).encode("utf-8")
                  for document in documents(tokens, tokenizer.end_of_document_id))
  return SplitData(text, "byte", len(text), len(tokens))


def model_bits_per_unit(loss_nats_per_token: float, split: SplitData) -> float:
  """The model's bits per unit of `split` (per byte for text, per token otherwise)."""
  return loss_nats_per_token / math.log(2) * split.tokens / split.units
