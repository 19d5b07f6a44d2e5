"""Pre-tokenized flat token files (the nanoGPT convention), used as they are, never copied.

`data.path` is either a directory holding `train.bin` and `val.bin`, or one `.bin` file whose
last `val_fraction` of tokens becomes the validation split (a flat file has no documents, so the
split is a contiguous tail). Each file is a headerless array of `uint16` or `uint32` token ids.
"""
import dataclasses
import hashlib
import pathlib

import numpy as np

TOKEN_DTYPES = {"uint16": np.uint16, "uint32": np.uint32}
_SCAN_TOKENS = 1 << 24  # tokens per chunk when scanning a file for its largest id


@dataclasses.dataclass(frozen=True)
class TokenSpan:
  """Tokens [start, stop) of a token file."""
  file: str
  start: int
  stop: int


def _check_file(file: pathlib.Path, dtype: np.dtype) -> int:
  """The number of tokens in `file`; an error when it is missing, empty or truncated."""
  if not file.is_file():
    raise ValueError(f"token file {file} does not exist: check data.path")
  size = file.stat().st_size
  if size == 0:
    raise ValueError(f"token file {file} is empty: point data.path at a non-empty .bin file")
  if size % dtype.itemsize:
    raise ValueError(f"token file {file} has {size} bytes, not a multiple of {dtype.itemsize}: "
                     f"its dtype is not data.token_dtype={dtype.name}; set the dtype it was "
                     "written with")
  return size // dtype.itemsize


def _max_token(file: pathlib.Path, dtype: np.dtype) -> int:
  tokens = np.memmap(file, dtype=dtype, mode="r")
  return max(int(tokens[i:i + _SCAN_TOKENS].max()) for i in range(0, len(tokens), _SCAN_TOKENS))


class TokenFiles:
  """Validated token files and their train/validation spans."""

  def __init__(self, path: str, token_dtype: str, vocab_size: int, val_fraction: float):
    if token_dtype not in TOKEN_DTYPES:
      raise ValueError(f"data.token_dtype={token_dtype!r}: set it to 'uint16' or 'uint32', the "
                       "dtype the token file was written with")
    self.dtype = np.dtype(TOKEN_DTYPES[token_dtype])
    capacity = int(np.iinfo(self.dtype).max) + 1
    if vocab_size <= 0:
      raise ValueError("data.tokenizer_vocab_size must be set for a token-file corpus: the "
                       "vocabulary of the tokenizer that wrote it (e.g. 50257 for GPT-2)")
    if vocab_size > capacity:
      raise ValueError(f"data.token_dtype={token_dtype} holds ids below {capacity} but "
                       f"data.tokenizer_vocab_size={vocab_size}: use uint32 token files")
    self.vocab_size = vocab_size
    root = pathlib.Path(path).expanduser().resolve() if path else None
    if root is None or not root.exists():
      raise ValueError(f"data.path={path!r}: no such token file or directory; point it at a .bin "
                       "file or a directory with train.bin and val.bin")
    if root.is_dir():
      train_file, val_file = root / "train.bin", root / "val.bin"
      self.train = TokenSpan(str(train_file), 0, _check_file(train_file, self.dtype))
      self.val = TokenSpan(str(val_file), 0, _check_file(val_file, self.dtype))
    else:
      tokens = _check_file(root, self.dtype)
      cut = tokens - max(1, int(round(tokens * val_fraction)))
      self.train = TokenSpan(str(root), 0, cut)
      self.val = TokenSpan(str(root), cut, tokens)
    self.files = sorted({pathlib.Path(self.train.file), pathlib.Path(self.val.file)})

  def identity(self) -> dict:
    """Cheap identity of the files (path, size, modification time) for the cache key."""
    return dict(source="tokens", dtype=self.dtype.name, vocab_size=self.vocab_size,
                files=[(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in self.files],
                train=dataclasses.astuple(self.train), val=dataclasses.astuple(self.val))

  def manifest(self) -> dict:
    """Identity plus a content hash; checks that every id fits the vocabulary (reads the files)."""
    digest = hashlib.sha256()
    for file in self.files:
      largest = _max_token(file, self.dtype)
      if largest >= self.vocab_size:
        raise ValueError(f"token file {file} holds id {largest} >= data.tokenizer_vocab_size="
                         f"{self.vocab_size}: set the vocabulary size of its tokenizer")
      with open(file, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 24), b""):
          digest.update(block)
    return dict(self.identity(), content_hash=digest.hexdigest())

  def memmap(self, span: TokenSpan) -> np.ndarray:
    """A read-only memmap of `span`."""
    return np.memmap(span.file, dtype=self.dtype, mode="r")[span.start:span.stop]
