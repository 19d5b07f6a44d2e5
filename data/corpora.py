"""Text corpora behind one interface: documents in a stable order, plus a manifest.

Two sources of text:
- `StdlibCorpus`: the `.py` files of the running interpreter's standard library (site-packages
  excluded), one document per file, in sorted relative-path order.
- `FileCorpus`: a directory or glob of `.txt` (one document per file), `.jsonl` (one document per
  line, text in a named field) or `.parquet` (one document per row, text in a named column);
  data/paths.py decides which files that is, each real file once.

A file is text when it is UTF-8, or UTF-8/16/32 behind a byte-order mark (the mark is dropped),
and holds no NUL character. A `.jsonl` line or `.parquet` row is a document when its text field
is a string (not null, not a number). A corpus is exactly the files named, each read once: a file
that is not text, or a record without text, is an error that names it, unless `skip_unreadable`
(`data.skip_unreadable_input`) is set; then it is left out with a warning. The stdlib corpus
always leaves out its few test files that are not UTF-8.

A manifest identifies the data: source, the files read, their bytes, a SHA-256 content hash over
(relative path, bytes) of every file named, in order, and what was left out and why.
"""
import codecs
import dataclasses
import hashlib
import json
import pathlib
import sys
import sysconfig
from typing import Iterator, Protocol

from absl import logging
import pyarrow as pa
import pyarrow.parquet as pq

from data import paths

TEXT_SUFFIXES = paths.TEXT_SUFFIXES
SKIP_FIELD = "data.skip_unreadable_input"
_EXCLUDED_DIRECTORIES = ("site-packages", "dist-packages", "__pycache__")
# The UTF-32 marks first: the UTF-32-LE mark begins with the UTF-16-LE one.
_BYTE_ORDER_MARKS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
                     (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                     (codecs.BOM_UTF16_BE, "utf-16-be"))
_NAMED_IN_ERRORS = 3  # unreadable files or records named in one message; the rest are counted

Entry = tuple[str, str | None]  # (document key, its text; None when the record has no text)


@dataclasses.dataclass(frozen=True)
class Document:
  """One document: `key` is stable and unique within its corpus (it decides the split)."""
  key: str
  text: str


class TextCorpus(Protocol):
  """A source of text documents in a stable order."""

  def manifest(self) -> dict:
    """Identity of the data (source, files read, bytes, content hash, what was left out)."""

  def documents(self) -> Iterator[Document]:
    """Every usable document, in the same order on every call."""


class UnreadableFileError(ValueError):
  """A file that holds no text this corpus can read; the message says why."""


def decode(data: bytes) -> str:
  """The text of `data`: UTF-8, or UTF-8/16/32 behind a byte-order mark (which is dropped).

  Raises:
    UnreadableFileError: it is not such text, or it holds a NUL character (binary data).
  """
  mark, encoding = next(((mark, name) for mark, name in _BYTE_ORDER_MARKS
                         if data.startswith(mark)), (b"", "utf-8"))
  try:
    text = data[len(mark):].decode(encoding)
  except UnicodeDecodeError as error:
    label = encoding.upper() + (" after its byte-order mark" if mark else "")
    raise UnreadableFileError(f"not {label}: invalid bytes at offset "
                              f"{len(mark) + error.start}") from error
  if "\0" in text:
    raise UnreadableFileError("holds NUL bytes: binary, or UTF-16 without a byte-order mark")
  return text


def _listed(items: list[str], total: int) -> str:
  more = f" and {total - len(items)} more" if total > len(items) else ""
  return ", ".join(items) + more


class _FilesCorpus:
  """Documents read from `files` under `root`, one per file; subclasses may read records."""
  _left_out_log_level = logging.WARNING

  def __init__(self, root: pathlib.Path, files: list[pathlib.Path], skip_unreadable: bool,
               description: str):
    self.root = root
    self.files = files
    self.skip_unreadable = skip_unreadable
    self.description = description  # how error messages name the corpus

  def _entries(self, file: pathlib.Path, key: str, data: bytes) -> list[Entry]:
    """The documents of `file` (`key`: its path relative to root); raises UnreadableFileError."""
    del file
    return [(key, decode(data))]

  def _files_problem(self, skipped: list[dict]) -> tuple[str, str]:
    """(what was not read, its fix) for files that are not text."""
    named = [f"{item['file']} ({item['reason']})" for item in skipped[:_NAMED_IN_ERRORS]]
    return (f"{self.description}: {len(skipped)} of {len(self.files)} files are not text and "
            f"were not read: {_listed(named, len(skipped))}", "convert them to UTF-8")

  def _records_problem(self, locations: list[str], total: int) -> tuple[str, str]:
    """(what was not read, its fix) for records without text."""
    return (f"{self.description}: {total} records (.jsonl lines / .parquet rows) have no text "
            f"(the text field is null or not a string): {_listed(locations, total)}",
            "fix them or point data.text_field at the text")

  def _refuse(self, problems: list[tuple[str, str]]) -> None:
    """Raises for what could not be read unless skip_unreadable is set; then logs it."""
    if not problems:
      return
    if not self.skip_unreadable:
      raise ValueError("; ".join(f"{what}: {fix}" for what, fix in problems)
                       + f"; or set {SKIP_FIELD}=True to leave them out")
    logging.log(self._left_out_log_level, "%s: left out (%s=True)",
                "; ".join(what for what, _ in problems), SKIP_FIELD)

  def _read_all(self) -> dict:
    """Reads every file once: the manifest fields that describe what was read and left out."""
    digest = hashlib.sha256()
    read, read_bytes, skipped_files, skipped_records, locations = [], 0, [], [], []
    for file in self.files:
      data = file.read_bytes()
      key = file.relative_to(self.root).as_posix()
      encoded_key = key.encode("utf-8")
      digest.update(len(encoded_key).to_bytes(8, "little") + encoded_key)
      digest.update(len(data).to_bytes(8, "little") + data)
      try:
        missing = [entry_key for entry_key, text in self._entries(file, key, data) if text is None]
      except UnreadableFileError as error:
        skipped_files.append(dict(file=key, reason=str(error)))
        continue
      read.append(key)
      read_bytes += len(data)
      if missing:
        skipped_records.append(dict(file=key, records=len(missing), first=missing[0]))
        locations.extend(str(self.root / k) for k in missing[:_NAMED_IN_ERRORS - len(locations)])
    if not read:
      what, _ = self._files_problem(skipped_files)
      raise ValueError(f"{what}; all {len(skipped_files)} files are binary or not UTF-8, so "
                       "nothing usable is left: convert them to UTF-8 text")
    problems = [self._files_problem(skipped_files)] if skipped_files else []
    if skipped_records:
      problems.append(self._records_problem(
          locations, sum(item["records"] for item in skipped_records)))
    self._refuse(problems)
    return dict(files=len(read), bytes=read_bytes, content_hash=digest.hexdigest(),
                read_files=read, skipped_files=skipped_files, skipped_records=skipped_records)

  def documents(self) -> Iterator[Document]:
    """Every document with text; the rest raise, or with skip_unreadable are left out (and
    `manifest()` reports them)."""
    for file in self.files:
      key = file.relative_to(self.root).as_posix()
      try:
        entries = self._entries(file, key, file.read_bytes())
      except UnreadableFileError as error:
        if not self.skip_unreadable:
          self._refuse([self._files_problem([dict(file=key, reason=str(error))])])
        continue
      for entry_key, text in entries:
        if text is not None:
          yield Document(entry_key, text)
        elif not self.skip_unreadable:
          self._refuse([self._records_problem([str(self.root / entry_key)], 1)])


class StdlibCorpus(_FilesCorpus):
  """The running interpreter's standard library `.py` files: tens of MB of real source code.

  Its few test files that are not UTF-8 are always left out (listed in the manifest).
  """
  _left_out_log_level = logging.INFO

  def __init__(self, root: str | pathlib.Path | None = None):
    root = pathlib.Path(root or sysconfig.get_paths()["stdlib"]).resolve()
    if not root.is_dir():
      raise ValueError(f"standard library directory {root} does not exist: this Python "
                       "installation has no sources; use data.corpus=files")
    files = sorted(
        path for path in root.rglob("*.py")
        if path.is_file() and not set(path.relative_to(root).parts) & set(_EXCLUDED_DIRECTORIES))
    if not files:
      raise ValueError(f"no .py files under {root}: use data.corpus=files")
    super().__init__(root, files, skip_unreadable=True, description=f"data.corpus=stdlib ({root})")

  def manifest(self) -> dict:
    return dict(source="stdlib", root=str(self.root), python_version=sys.version.split()[0],
                **self._read_all())


class FileCorpus(_FilesCorpus):
  """User text files: `.txt`, `.jsonl` (field `text_field`) or `.parquet` (column `text_field`).

  `skip_unreadable`: leave out (with a warning) files that are not text and records without
  text, instead of refusing the corpus.
  """

  def __init__(self, path: str, text_field: str = "text", skip_unreadable: bool = False):
    self.path = path
    self.text_field = text_field
    root, files = paths.find_text_files(path)
    super().__init__(root, files, skip_unreadable, description=f"data.path={path!r}")

  def manifest(self) -> dict:
    return dict(source="files", root=str(self.root), text_field=self.text_field,
                **self._read_all())

  def _entries(self, file: pathlib.Path, key: str, data: bytes) -> list[Entry]:
    if file.suffix == ".jsonl":
      return self._jsonl_entries(file, key, data)
    if file.suffix == ".parquet":
      return self._parquet_entries(file, key, data)
    return super()._entries(file, key, data)

  def _jsonl_entries(self, file: pathlib.Path, key: str, data: bytes) -> list[Entry]:
    """One entry per non-blank line (`key:line`); lines end at '\\n' only, as JSON Lines say."""
    entries = []
    for line_number, line in enumerate(decode(data).split("\n"), start=1):
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
      text = record[self.text_field]
      entries.append((f"{key}:{line_number}", text if isinstance(text, str) else None))
    return entries

  def _parquet_entries(self, file: pathlib.Path, key: str, data: bytes) -> list[Entry]:
    """One entry per row (`key:row`, rows counted from 0)."""
    try:
      names = pq.read_schema(pa.BufferReader(data)).names
      if self.text_field not in names:
        raise ValueError(f"{file}: no column {self.text_field!r} (columns: {names}); set "
                         "data.text_field to the column that holds the text")
      column = pq.read_table(pa.BufferReader(data), columns=[self.text_field]).column(0)
    except pa.ArrowException as error:
      detail = " ".join(str(error).split())
      raise UnreadableFileError(f"not a readable Parquet file ({detail})") from error
    return [(f"{key}:{row}", value if isinstance(value, str) else None)
            for row, value in enumerate(column.to_pylist())]
