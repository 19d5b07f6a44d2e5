"""Text corpora behind one interface: documents in a stable order, plus a manifest.

Two sources of text:
- `StdlibCorpus`: the `.py` files of the running interpreter's standard library (site-packages
  excluded), one document per file, in sorted relative-path order.
- `FileCorpus`: a directory or glob of `.txt` (one document per file), `.jsonl` (one document per
  line, text in a named field) or `.parquet` (one document per row, text in a named column).

A manifest identifies the data: source, file count, bytes and a SHA-256 content hash over
(relative path, bytes) of every file in order, so a run can tell when it sees different data.
Binary or undecodable files are skipped and counted; a corpus with nothing usable is an error.
"""
import dataclasses
import glob
import hashlib
import json
import os
import pathlib
import sys
import sysconfig
from typing import Iterator, Protocol

import pyarrow.parquet as pq

TEXT_SUFFIXES = (".txt", ".jsonl", ".parquet")
_EXCLUDED_DIRECTORIES = ("site-packages", "dist-packages", "__pycache__")


@dataclasses.dataclass(frozen=True)
class Document:
  """One document: `key` is stable and unique within its corpus (it decides the split)."""
  key: str
  text: str


class TextCorpus(Protocol):
  """A source of text documents in a stable order."""

  def manifest(self) -> dict:
    """Identity of the data (source, file count, bytes, content hash, skipped files)."""

  def documents(self) -> Iterator[Document]:
    """Every usable document, in the same order on every call."""


def _decode(data: bytes) -> str | None:
  """The text of `data`, or None when it is binary (has NUL bytes) or not UTF-8."""
  if b"\0" in data:
    return None
  try:
    return data.decode("utf-8")
  except UnicodeDecodeError:
    return None


def _hash_files(root: pathlib.Path, files: list[pathlib.Path]) -> tuple[str, int, int]:
  """(SHA-256 over (relative path, bytes) of `files`, total bytes, files that are not text)."""
  digest = hashlib.sha256()
  total_bytes = 0
  not_text = 0
  for path in files:
    data = path.read_bytes()
    relative = path.relative_to(root).as_posix().encode("utf-8")
    digest.update(len(relative).to_bytes(8, "little") + relative)
    digest.update(len(data).to_bytes(8, "little") + data)
    total_bytes += len(data)
    if path.suffix != ".parquet" and _decode(data) is None:
      not_text += 1
  return digest.hexdigest(), total_bytes, not_text


class StdlibCorpus:
  """The running interpreter's standard library `.py` files: tens of MB of real source code."""

  def __init__(self, root: str | pathlib.Path | None = None):
    self.root = pathlib.Path(root or sysconfig.get_paths()["stdlib"]).resolve()
    if not self.root.is_dir():
      raise ValueError(f"standard library directory {self.root} does not exist: this Python "
                       "installation has no sources; use data.corpus=files")
    self.files = sorted(
        path for path in self.root.rglob("*.py")
        if path.is_file() and not set(path.relative_to(self.root).parts) & set(
            _EXCLUDED_DIRECTORIES))
    if not self.files:
      raise ValueError(f"no .py files under {self.root}: use data.corpus=files")

  def manifest(self) -> dict:
    content_hash, total_bytes, skipped = _hash_files(self.root, self.files)
    return dict(source="stdlib", root=str(self.root), python_version=sys.version.split()[0],
                files=len(self.files), bytes=total_bytes, content_hash=content_hash,
                skipped_files=skipped)

  def documents(self) -> Iterator[Document]:
    for path in self.files:
      text = _decode(path.read_bytes())
      if text is not None:
        yield Document(path.relative_to(self.root).as_posix(), text)


def _find_text_files(path: str) -> tuple[pathlib.Path, list[pathlib.Path]]:
  """(root, sorted files) for a directory (searched recursively) or a glob pattern."""
  if not path:
    raise ValueError("data.path is empty: set it to a directory or glob of .txt/.jsonl/.parquet")
  candidate = pathlib.Path(path).expanduser()
  if candidate.is_dir():
    root = candidate.resolve()
    files = [p for p in root.rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES]
  elif candidate.is_file():
    root = candidate.resolve().parent
    files = [candidate.resolve()]
  else:
    matches = [pathlib.Path(p).resolve() for p in glob.glob(str(candidate), recursive=True)]
    files = [p for p in matches if p.is_file()]
    if not files:
      raise ValueError(f"data.path={path!r}: no such directory, file or matching glob; "
                       "point it at your .txt/.jsonl/.parquet files")
    root = pathlib.Path(os.path.commonpath([str(f.parent) for f in files]))
  unsupported = sorted({p.suffix or p.name for p in files if p.suffix not in TEXT_SUFFIXES})
  if unsupported:
    raise ValueError(f"data.path={path!r} matches files of unsupported types {unsupported}: "
                     "use .txt, .jsonl or .parquet (or data.corpus=tokens for .bin)")
  if not files:
    raise ValueError(f"data.path={path!r} holds no .txt, .jsonl or .parquet files: "
                     "add some or point data.path elsewhere")
  return root, sorted(files)


class FileCorpus:
  """User text files: `.txt`, `.jsonl` (field `text_field`) or `.parquet` (column `text_field`)."""

  def __init__(self, path: str, text_field: str = "text"):
    self.path = path
    self.text_field = text_field
    self.root, self.files = _find_text_files(path)

  def manifest(self) -> dict:
    content_hash, total_bytes, skipped = _hash_files(self.root, self.files)
    for file in self.files:
      if file.suffix == ".parquet":
        self._check_parquet_column(file)
    if skipped == len(self.files):
      raise ValueError(f"data.path={self.path!r}: all {skipped} files are binary or not UTF-8; "
                       "nothing usable is left: convert them to UTF-8 text")
    return dict(source="files", root=str(self.root), text_field=self.text_field,
                files=len(self.files), bytes=total_bytes, content_hash=content_hash,
                skipped_files=skipped)

  def _check_parquet_column(self, file: pathlib.Path) -> None:
    names = pq.read_schema(file).names
    if self.text_field not in names:
      raise ValueError(f"{file}: no column {self.text_field!r} (columns: {names}); set "
                       "data.text_field to the column that holds the text")

  def _jsonl_documents(self, file: pathlib.Path, relative: str) -> Iterator[Document]:
    text = _decode(file.read_bytes())
    if text is None:
      return
    for line_number, line in enumerate(text.splitlines(), start=1):
      if not line.strip():
        continue
      try:
        record = json.loads(line)
      except json.JSONDecodeError as error:
        raise ValueError(f"{file} line {line_number} is not valid JSON ({error.msg}): fix or "
                         "remove that line") from error
      if not isinstance(record, dict) or self.text_field not in record:
        raise ValueError(f"{file} line {line_number} has no field {self.text_field!r}; set "
                         "data.text_field to the field that holds the text")
      yield Document(f"{relative}:{line_number}", str(record[self.text_field]))

  def documents(self) -> Iterator[Document]:
    for file in self.files:
      relative = file.relative_to(self.root).as_posix()
      if file.suffix == ".jsonl":
        yield from self._jsonl_documents(file, relative)
      elif file.suffix == ".parquet":
        self._check_parquet_column(file)
        column = pq.read_table(file, columns=[self.text_field]).column(0)
        for row, value in enumerate(column.to_pylist()):
          if value is not None:
            yield Document(f"{relative}:{row}", str(value))
      else:
        text = _decode(file.read_bytes())
        if text is not None:
          yield Document(relative, text)
