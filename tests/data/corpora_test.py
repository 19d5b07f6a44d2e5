"""Tests for data/corpora.py."""
import json
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data import corpora


def test_stdlib_corpus_is_sorted_real_source_without_site_packages():
  corpus = corpora.StdlibCorpus()
  relative = [path.relative_to(corpus.root).as_posix() for path in corpus.files]
  assert relative == sorted(relative)
  assert "os.py" in relative and "json/decoder.py" in relative
  assert not any("site-packages" in name for name in relative)
  manifest = corpus.manifest()
  assert manifest["python_version"] == sys.version.split()[0]
  assert manifest["bytes"] > 10_000_000
  assert len(manifest["content_hash"]) == 64
  first = next(corpus.documents())
  assert first.key == relative[0]
  assert first.text == corpus.files[0].read_text(encoding="utf-8")


def test_stdlib_hash_changes_with_content(tmp_path):
  (tmp_path / "a.py").write_text("x = 1\n")
  (tmp_path / "site-packages").mkdir()
  (tmp_path / "site-packages" / "b.py").write_text("y = 2\n")
  corpus = corpora.StdlibCorpus(tmp_path)
  assert [d.key for d in corpus.documents()] == ["a.py"]
  before = corpus.manifest()["content_hash"]
  (tmp_path / "a.py").write_text("x = 2\n")
  assert corpora.StdlibCorpus(tmp_path).manifest()["content_hash"] != before


def test_file_corpus_reads_txt_jsonl_and_parquet(tmp_path):
  (tmp_path / "sub").mkdir()
  (tmp_path / "sub" / "b.txt").write_text("second file ü")
  (tmp_path / "a.txt").write_text("first file")
  (tmp_path / "c.jsonl").write_text(
      json.dumps({"body": "line one"}) + "\n\n" + json.dumps({"body": "line two"}) + "\n")
  pq.write_table(pa.table({"body": ["row zero", None, "row two"], "id": [0, 1, 2]}),
                 tmp_path / "d.parquet")
  (tmp_path / "ignored.md").write_text("not a corpus suffix")
  corpus = corpora.FileCorpus(str(tmp_path), text_field="body", skip_unreadable=True)
  documents = list(corpus.documents())
  assert [(d.key, d.text) for d in documents] == [
      ("a.txt", "first file"), ("c.jsonl:1", "line one"), ("c.jsonl:3", "line two"),
      ("d.parquet:0", "row zero"), ("d.parquet:2", "row two"), ("sub/b.txt", "second file ü")]
  manifest = corpus.manifest()
  assert manifest["files"] == 4
  assert manifest["read_files"] == ["a.txt", "c.jsonl", "d.parquet", "sub/b.txt"]
  assert manifest["skipped_records"] == [dict(file="d.parquet", records=1, first="d.parquet:1")]
  by_glob = corpora.FileCorpus(str(tmp_path / "**" / "*.txt"))
  assert [d.text for d in by_glob.documents()] == ["first file", "second file ü"]


def test_binary_and_undecodable_files_are_refused_or_skipped_by_name(tmp_path):
  (tmp_path / "good.txt").write_text("usable text")
  (tmp_path / "binary.txt").write_bytes(b"abc\0def")
  (tmp_path / "latin1.txt").write_bytes("café".encode("latin-1"))
  with pytest.raises(ValueError, match=r"2 of 3 files are not text and were not read: "
                     r"binary.txt \(holds NUL bytes.*latin1.txt \(not UTF-8"):
    corpora.FileCorpus(str(tmp_path)).manifest()
  corpus = corpora.FileCorpus(str(tmp_path), skip_unreadable=True)
  assert [item["file"] for item in corpus.manifest()["skipped_files"]] == ["binary.txt",
                                                                           "latin1.txt"]
  assert [d.key for d in corpus.documents()] == ["good.txt"]


def test_nothing_usable_left_is_an_error(tmp_path):
  (tmp_path / "binary.txt").write_bytes(b"\0\1\2")
  with pytest.raises(ValueError, match="all 1 files are binary or not UTF-8"):
    corpora.FileCorpus(str(tmp_path)).manifest()


def test_missing_or_empty_corpus(tmp_path):
  with pytest.raises(ValueError, match="no such directory, file or matching glob"):
    corpora.FileCorpus(str(tmp_path / "missing"))
  with pytest.raises(ValueError, match="holds no .txt, .jsonl or .parquet files"):
    corpora.FileCorpus(str(tmp_path))
  with pytest.raises(ValueError, match="data.path is empty"):
    corpora.FileCorpus("")
  (tmp_path / "x.bin").write_bytes(b"12")
  with pytest.raises(ValueError, match=r"unsupported types \['.bin'\]"):
    corpora.FileCorpus(str(tmp_path / "*.bin"))


def test_missing_jsonl_field_and_parquet_column(tmp_path):
  (tmp_path / "a.jsonl").write_text(json.dumps({"content": "x"}) + "\n")
  with pytest.raises(ValueError, match=r"a.jsonl line 1 has no field 'text'; set data.text_field"):
    list(corpora.FileCorpus(str(tmp_path)).documents())
  (tmp_path / "a.jsonl").write_text("{not json\n")
  with pytest.raises(ValueError, match="a.jsonl line 1 is not valid JSON"):
    list(corpora.FileCorpus(str(tmp_path)).documents())
  (tmp_path / "a.jsonl").unlink()
  pq.write_table(pa.table({"content": ["x"]}), tmp_path / "b.parquet")
  with pytest.raises(ValueError, match=r"b.parquet: no column 'text' \(columns: \['content'\]\)"):
    corpora.FileCorpus(str(tmp_path)).manifest()
