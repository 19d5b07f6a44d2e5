"""`prepare`: tokenize a corpus once into flat memmapped token files plus `manifest.json`.

A prepared directory holds `train.bin` and `val.bin` (flat token ids, uint16 when the vocabulary
fits, else uint32; each document is followed by the tokenizer's end-of-document id), `manifest.json`
and the trained tokenizer (`tokenizer.model` for SentencePiece, `tokenizer.json` for byte-level
BPE). Its name is a hash of everything that decides its content (corpus identity and content hash,
tokenizer, vocabulary, split seed and fraction), so preparing the same input again finds it and does
nothing. It is written under a temporary name, `.KEY.tmp-HOST-PID-ID`
(records.atomic.temporary_path), and renamed at the end: a half-written preparation is never taken
for a finished one, and when two processes prepare the same data at once, the loser of the rename
uses the winner's result. A killed preparation leaves its temporary behind; the next `prepare` on
the same host deletes it once no process PID runs there (records.atomic.remove_stale_temporaries).
Token-file corpora are not copied: their directory holds only the manifest.
"""
import dataclasses
import hashlib
import json
import math
import multiprocessing
import os
import pathlib
import shutil
import time
from typing import Callable, Iterator

from absl import logging
import ml_collections
import numpy as np

from data import corpora
from data import splits
from data import synthetic
from data import token_files
from data import tokenizers
from data import teacher
from data import topics
from records import atomic

FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
DEFAULT_CACHE = pathlib.Path("~/.cache/scaling-lab/data")
_CHUNK_BYTES = 1 << 20  # text per encoding task sent to a worker process

ProgressFn = Callable[[float, int], None]  # (fraction of the corpus done, tokens so far)
SyntheticSource = synthetic.SyntheticSource | topics.LanguageSource
Source = corpora.TextCorpus | SyntheticSource | token_files.TokenFiles


@dataclasses.dataclass(frozen=True)
class Prepared:
  """A prepared corpus: memmapped token splits, their manifest and the tokenizer."""
  train_tokens: np.ndarray
  val_tokens: np.ndarray
  manifest: dict
  tokenizer: tokenizers.Tokenizer
  directory: pathlib.Path

  @property
  def bytes_per_token(self) -> float | None:
    """UTF-8 bytes per token of the validation split (None without text); bits/byte =
    loss (nats/token) / ln(2) / bytes_per_token."""
    if not self.manifest.get("val_bytes"):
      return None
    return self.manifest["val_bytes"] / self.manifest["val_tokens"]

  def bits_per_byte(self, loss_nats_per_token: float) -> float | None:
    """A validation loss (nats/token) in bits per UTF-8 byte of the validation text (None for
    corpora without text)."""
    if self.bytes_per_token is None:
      return None
    return bits_per_byte(loss_nats_per_token, self.bytes_per_token)


def bits_per_byte(loss_nats_per_token: float, bytes_per_token: float) -> float:
  """Model bits per byte: loss (nats/token) / ln 2 / bytes_per_token (UTF-8 bytes/token)."""
  if not bytes_per_token > 0:
    raise ValueError(f"bytes_per_token={bytes_per_token!r} must be positive: the split has no "
                     "text bytes (a token-id corpus); report bits per token instead")
  return loss_nats_per_token / math.log(2) / bytes_per_token


def _cache_key(identity: dict) -> str:
  return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]


def load_prepared(directory: str | pathlib.Path) -> Prepared:
  """Opens a finished prepared directory (one that holds `manifest.json`)."""
  directory = pathlib.Path(directory)
  manifest_file = directory / MANIFEST_FILE
  if not manifest_file.is_file():
    raise ValueError(f"{directory} is not a prepared corpus (no {MANIFEST_FILE}): run prepare")
  manifest = json.loads(manifest_file.read_text())
  if manifest["source"]["source"] == "tokens":
    dtype = np.dtype(manifest["token_dtype"])
    train_span, val_span = (token_files.TokenSpan(*manifest["source"][s]) for s in ("train", "val"))
    train = np.memmap(train_span.file, dtype=dtype, mode="r")[train_span.start:train_span.stop]
    val = np.memmap(val_span.file, dtype=dtype, mode="r")[val_span.start:val_span.stop]
  else:
    train = np.memmap(directory / "train.bin", dtype=manifest["token_dtype"], mode="r")
    val = np.memmap(directory / "val.bin", dtype=manifest["token_dtype"], mode="r")
  tokenizer = tokenizers.load_tokenizer(manifest["tokenizer"], manifest["vocab_size"], directory)
  return Prepared(train, val, manifest, tokenizer, directory)


def _token_dtype(vocab_size: int) -> str:
  return "uint16" if vocab_size <= 1 << 16 else "uint32"


_worker_tokenizer: tokenizers.Tokenizer | None = None


def _init_worker(kind: str, vocab_size: int, directory: str) -> None:
  global _worker_tokenizer
  _worker_tokenizer = tokenizers.load_tokenizer(kind, vocab_size, directory)


Chunk = tuple[list[bool], list[str]]  # (is_validation flag, text) of consecutive documents


def _encode_chunk(chunk: Chunk, tokenizer: tokenizers.Tokenizer | None = None
                  ) -> tuple[list[bool], list[np.ndarray], list[int]]:
  """(flags, token ids of each text followed by end-of-document, UTF-8 bytes of each text)."""
  tokenizer = tokenizer or _worker_tokenizer
  flags, texts = chunk
  dtype = _token_dtype(tokenizer.vocab_size)
  end = np.asarray([tokenizer.end_of_document_id], dtype=dtype)
  encoded = [np.concatenate([tokenizer.encode(text).astype(dtype), end]) for text in texts]
  return flags, encoded, [len(text.encode("utf-8")) for text in texts]


def _chunks(documents: Iterator[corpora.Document], seed: int, val_fraction: float
            ) -> Iterator[Chunk]:
  """Groups non-empty documents into chunks of about `_CHUNK_BYTES` characters."""
  flags, texts, size = [], [], 0
  for document in documents:
    if not document.text:
      continue
    flags.append(splits.is_validation(document.key, seed, val_fraction))
    texts.append(document.text)
    size += len(document.text)
    if size >= _CHUNK_BYTES:
      yield flags, texts
      flags, texts, size = [], [], 0
  if texts:
    yield flags, texts


class _SplitWriter:
  """Appends token arrays to `train.bin` / `val.bin` and counts tokens, documents and bytes."""

  def __init__(self, directory: pathlib.Path, dtype: str, progress: ProgressFn | None,
               total_bytes: int):
    self.dtype = np.dtype(dtype)
    self.files = {False: open(directory / "train.bin", "wb"), True: open(directory / "val.bin",
                                                                        "wb")}
    self.counts = {split: dict(tokens=0, documents=0, bytes=0) for split in (False, True)}
    self.progress = progress
    self.total_bytes = max(total_bytes, 1)
    self.done_bytes = 0

  def write(self, is_validation: bool, tokens: np.ndarray, text_bytes: int = 0) -> None:
    self.files[is_validation].write(tokens.astype(self.dtype).tobytes())
    counts = self.counts[is_validation]
    counts["tokens"] += len(tokens)
    counts["documents"] += 1
    counts["bytes"] += text_bytes
    self.done_bytes += text_bytes

  def write_chunk(self, flags: list[bool], encoded: list[np.ndarray],
                  text_bytes: list[int]) -> None:
    for is_validation, tokens, size in zip(flags, encoded, text_bytes):
      self.write(is_validation, tokens, size)
    if self.progress is not None:
      self.progress(min(1.0, self.done_bytes / self.total_bytes), self.tokens_written)

  @property
  def tokens_written(self) -> int:
    return self.counts[False]["tokens"] + self.counts[True]["tokens"]

  def close(self) -> dict:
    for stream in self.files.values():
      stream.close()
    return {f"{name}_{field}": self.counts[split][field]
            for name, split in (("train", False), ("val", True)) for field in self.counts[split]}


def _write_text_corpus(corpus: corpora.TextCorpus, data_config: ml_collections.ConfigDict,
                       directory: pathlib.Path, total_bytes: int, workers: int,
                       progress: ProgressFn | None) -> dict:
  """Trains the tokenizer if needed, encodes every document; returns the split counts."""
  seed, fraction = data_config.split_seed, data_config.val_fraction
  if data_config.tokenizer == "sentencepiece":
    train_texts = (d.text for d in corpus.documents()
                   if not splits.is_validation(d.key, seed, fraction))
    tokenizers.train_sentencepiece(train_texts, data_config.tokenizer_vocab_size,
                                   data_config.tokenizer_model,
                                   directory / tokenizers.SENTENCEPIECE_MODEL_FILE, seed=seed)
  elif data_config.tokenizer == "bpe":
    train_texts = (d.text for d in corpus.documents()
                   if d.text and not splits.is_validation(d.key, seed, fraction))
    tokenizers.train_bpe(train_texts, data_config.tokenizer_vocab_size,
                         directory / tokenizers.BPE_MODEL_FILE)
  vocab_size = tokenizers.tokenizer_vocab_size(data_config)
  writer = _SplitWriter(directory, _token_dtype(vocab_size), progress, total_bytes)
  chunks = _chunks(corpus.documents(), seed, fraction)
  if workers > 1:
    init_args = (data_config.tokenizer, vocab_size, str(directory))
    with multiprocessing.get_context("spawn").Pool(workers, _init_worker, init_args) as pool:
      for flags, encoded, text_bytes in pool.imap(_encode_chunk, chunks):
        writer.write_chunk(flags, encoded, text_bytes)
  else:
    tokenizer = tokenizers.load_tokenizer(data_config.tokenizer, vocab_size, directory)
    for chunk in chunks:
      writer.write_chunk(*_encode_chunk(chunk, tokenizer))
  return writer.close()


def _write_synthetic(source: SyntheticSource, data_config: ml_collections.ConfigDict,
                     directory: pathlib.Path, progress: ProgressFn | None) -> dict:
  """Generates the synthetic documents into the two splits; returns the split counts."""
  writer = _SplitWriter(directory, _token_dtype(source.vocab_size), progress, total_bytes=0)
  for index, (key, tokens) in enumerate(source.token_documents()):
    writer.write(splits.is_validation(key, data_config.split_seed, data_config.val_fraction),
                 tokens)
    if progress is not None and index % 64 == 63:
      progress(writer.tokens_written / source.total_tokens, writer.tokens_written)
  return writer.close()


def _log_progress(fraction: float, tokens: int) -> None:
  logging.log_every_n_seconds(logging.INFO, "prepare: %.0f%% done, %d tokens", 5.0,
                              100 * fraction, tokens)


def _synthetic_source(data_config: ml_collections.ConfigDict) -> SyntheticSource:
  """The synthetic source `data.synthetic_kind` names."""
  if data_config.synthetic_kind == "markov":
    return synthetic.SyntheticSource(data_config.synthetic_vocab, data_config.synthetic_states,
                                     data_config.synthetic_tokens, data_config.synthetic_seed)
  if data_config.synthetic_kind == "topics":
    return topics.TopicSource(
        data_config.synthetic_vocab, data_config.synthetic_topics, data_config.synthetic_topic_zipf,
        data_config.synthetic_order, data_config.synthetic_successors,
        data_config.synthetic_document_tokens, data_config.synthetic_tokens,
        data_config.synthetic_seed)
  if data_config.synthetic_kind == "teacher":
    return teacher.TeacherSource(
        data_config.synthetic_vocab, data_config.synthetic_order,
        data_config.synthetic_teacher_width, data_config.synthetic_teacher_decay,
        data_config.synthetic_teacher_scale, data_config.synthetic_document_tokens,
        data_config.synthetic_tokens, data_config.synthetic_seed,
        data_config.synthetic_teacher_embed, data_config.synthetic_teacher_embed_decay)
  raise ValueError(f"data.synthetic_kind={data_config.synthetic_kind!r}: use markov, topics or "
                   "teacher")


def _source_and_identity(data_config: ml_collections.ConfigDict) -> tuple[Source, dict, dict]:
  """(corpus object, its manifest, the identity dict that names the prepared directory)."""
  if not 0.0 < data_config.val_fraction < 1.0:
    raise ValueError(f"data.val_fraction={data_config.val_fraction}: use a fraction in (0, 1)")
  split = dict(split_seed=data_config.split_seed, val_fraction=data_config.val_fraction)
  if data_config.corpus in ("stdlib", "files"):
    tokenizer = dict(tokenizer=data_config.tokenizer,
                     vocab_size=tokenizers.tokenizer_vocab_size(data_config))
    if data_config.tokenizer == "sentencepiece":
      tokenizer["tokenizer_model"] = data_config.tokenizer_model
    if data_config.corpus == "stdlib":
      corpus = corpora.StdlibCorpus()
    else:
      corpus = corpora.FileCorpus(data_config.path, data_config.text_field,
                                  data_config.skip_unreadable_input)
    source_manifest = corpus.manifest()
    return corpus, source_manifest, dict(source=source_manifest, **tokenizer, **split)
  if data_config.corpus == "synthetic":
    corpus = _synthetic_source(data_config)
    source_manifest = corpus.manifest()
    return corpus, source_manifest, dict(source=source_manifest, tokenizer="token_ids",
                                         vocab_size=corpus.vocab_size, **split)
  if data_config.corpus == "tokens":
    corpus = token_files.TokenFiles(data_config.path, data_config.token_dtype,
                                    data_config.tokenizer_vocab_size, data_config.val_fraction)
    identity = corpus.identity()
    return corpus, identity, dict(source=identity, tokenizer="token_ids",
                                  vocab_size=corpus.vocab_size, **split)
  raise ValueError(f"data.corpus={data_config.corpus!r}: use stdlib, files, tokens or synthetic")


def _check_counts(manifest: dict, data_config: ml_collections.ConfigDict) -> None:
  if manifest["train_tokens"] + manifest["val_tokens"] == 0:
    raise ValueError(f"corpus {data_config.corpus} {data_config.path!r} has no text (empty "
                     "files or documents): add text or point data.path elsewhere")
  if manifest["val_tokens"] == 0:
    raise ValueError(f"the validation split is empty: raise data.val_fraction (now "
                     f"{data_config.val_fraction}) or add documents")
  if manifest["train_tokens"] == 0:
    raise ValueError(f"the training split is empty: lower data.val_fraction (now "
                     f"{data_config.val_fraction}) or add documents")


def _build(corpus: Source, source_manifest: dict, identity: dict,
           data_config: ml_collections.ConfigDict, final: pathlib.Path, workers: int,
           progress: ProgressFn | None) -> None:
  """Writes the prepared directory under a temporary name and renames it to `final`."""
  temporary = atomic.temporary_path(final)
  temporary.mkdir(parents=True)
  try:
    start = time.perf_counter()
    if data_config.corpus == "tokens":
      source_manifest = corpus.manifest()
      counts = dict(train_tokens=corpus.train.stop - corpus.train.start,
                    val_tokens=corpus.val.stop - corpus.val.start)
      token_dtype = corpus.dtype.name
    elif data_config.corpus == "synthetic":
      counts = _write_synthetic(corpus, data_config, temporary, progress)
      token_dtype = _token_dtype(identity["vocab_size"])
    else:
      counts = _write_text_corpus(corpus, data_config, temporary, source_manifest["bytes"],
                                  workers, progress)
      token_dtype = _token_dtype(identity["vocab_size"])
    seconds = time.perf_counter() - start
    manifest = dict(identity, **counts, source=source_manifest, token_dtype=token_dtype,
                    content_hash=source_manifest.get("content_hash"), key=final.name,
                    format_version=FORMAT_VERSION, prepare_seconds=seconds,
                    tokens_per_second=(counts["train_tokens"] + counts["val_tokens"]) / seconds)
    _check_counts(manifest, data_config)
    (temporary / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    try:
      os.rename(temporary, final)
    except OSError:
      if not (final / MANIFEST_FILE).is_file():
        raise
      logging.info("prepare: %s was finished by another process; using it", final)
  finally:
    shutil.rmtree(temporary, ignore_errors=True)


def prepare(data_config: ml_collections.ConfigDict, seq_len: int | None = None, *,
            workers: int = 1, progress: ProgressFn | None = _log_progress) -> Prepared:
  """Prepares (once) and opens the corpus `data_config` names; idempotent and race-safe.

  Args:
    data_config: `config.data` (see configs/base.py).
    seq_len: when given, both splits must hold at least seq_len + 1 tokens (one window).
    workers: processes that encode text (1: encode in this process).
    progress: called with (fraction done, tokens so far) while preparing.

  Returns:
    The prepared corpus; `Prepared.manifest["already_prepared"]` tells whether this call found it.
  """
  corpus, source_manifest, identity = _source_and_identity(data_config)
  cache = pathlib.Path(data_config.prepared_dir or DEFAULT_CACHE).expanduser()
  final = cache / _cache_key(dict(identity, format_version=FORMAT_VERSION))
  for path in atomic.remove_stale_temporaries(cache):
    logging.info("prepare: deleted %s, left by a preparation that was killed", path)
  already_prepared = (final / MANIFEST_FILE).is_file()
  if not already_prepared:
    _build(corpus, source_manifest, identity, data_config, final, workers, progress)
  prepared = load_prepared(final)
  prepared.manifest["already_prepared"] = already_prepared
  if seq_len is not None:
    for split, fix in (("val", "raise data.val_fraction"), ("train", "add text")):
      tokens = prepared.manifest[f"{split}_tokens"]
      if tokens < seq_len + 1:
        raise ValueError(f"the {split} split has {tokens} tokens, fewer than model.seq_len + 1 = "
                         f"{seq_len + 1}: shorten model.seq_len or {fix}")
  return prepared
