"""Bad input to the data side: a corpus is exactly the files named, each read once, or one line
that says which were not read and why (the "Bad input and faults" catalogue)."""
import codecs
import errno
import json
import logging
import os
import pathlib
import signal
import socket
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data import corpora
from data import preparation
from data import tokenizers

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[2]


def _write_documents(directory: pathlib.Path, count: int, prefix: str = "doc") -> None:
  directory.mkdir(parents=True, exist_ok=True)
  for index in range(count):
    (directory / f"{prefix}{index:02d}.txt").write_text(f"{prefix} {index}\n" * 40)


def test_a_glob_through_a_directory_link_loop_reads_each_file_once(tmp_path):
  corpus_dir = tmp_path / "corpus"
  _write_documents(corpus_dir, 50)
  _write_documents(corpus_dir / "sub", 10, prefix="nested")
  (corpus_dir / "sub" / "up").symlink_to("..")
  corpus = corpora.FileCorpus(str(corpus_dir / "**" / "*.txt"))
  manifest = corpus.manifest()
  assert manifest["files"] == 60
  assert len(set(manifest["read_files"])) == 60
  assert sum(1 for _ in corpus.documents()) == 60
  assert corpora.FileCorpus(str(corpus_dir)).manifest()["read_files"] == manifest["read_files"]


def test_directory_mode_follows_a_linked_subdirectory_and_reads_it_once(tmp_path):
  _write_documents(tmp_path / "corpus", 2)
  _write_documents(tmp_path / "elsewhere", 3, prefix="linked")
  (tmp_path / "corpus" / "more").symlink_to(tmp_path / "elsewhere")
  (tmp_path / "corpus" / "same").symlink_to(tmp_path / "elsewhere")
  corpus = corpora.FileCorpus(str(tmp_path / "corpus"))
  assert corpus.manifest()["read_files"] == [
      "doc00.txt", "doc01.txt", "more/linked00.txt", "more/linked01.txt", "more/linked02.txt"]
  assert [d.text for d in corpus.documents()][2] == "linked 0\n" * 40


def test_a_file_with_a_nul_byte_is_refused_by_name_unless_skipping_is_set(tmp_path, caplog,
                                                                         files_config):
  _write_documents(tmp_path / "corpus", 10)
  (tmp_path / "corpus" / "binary.txt").write_bytes(b"text\0more text")
  (tmp_path / "corpus" / "latin1.txt").write_bytes("café".encode("latin-1"))
  with pytest.raises(ValueError, match=r"2 of 12 files are not text and were not read: "
                     r"binary.txt \(holds NUL bytes.*\), latin1.txt \(not UTF-8.*\): convert "
                     r"them to UTF-8; or set data.skip_unreadable_input=True") as refused:
    preparation.prepare(files_config(), progress=None)
  assert "\n" not in str(refused.value)
  with caplog.at_level(logging.WARNING):
    prepared = preparation.prepare(files_config(skip_unreadable_input=True), progress=None)
  source = prepared.manifest["source"]
  assert source["read_files"] == [f"doc{index:02d}.txt" for index in range(10)]
  assert [(s["file"], s["reason"].split(":")[0]) for s in source["skipped_files"]] == [
      ("binary.txt", "holds NUL bytes"), ("latin1.txt", "not UTF-8")]
  assert "binary.txt" in caplog.text and "left out" in caplog.text
  assert prepared.train_tokens.size + prepared.val_tokens.size == 10 * (len("doc 0\n" * 40) + 1)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-8"])
def test_text_behind_a_byte_order_mark_is_decoded(tmp_path, encoding):
  text = "naïve € 😀 text\nsecond line\n"
  mark = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE,
          "utf-32-le": codecs.BOM_UTF32_LE, "utf-8": codecs.BOM_UTF8}[encoding]
  (tmp_path / "marked.txt").write_bytes(mark + text.encode(encoding))
  corpus = corpora.FileCorpus(str(tmp_path))
  assert [d.text for d in corpus.documents()] == [text]
  assert corpus.manifest()["skipped_files"] == []


def test_utf16_without_a_byte_order_mark_is_refused(tmp_path):
  (tmp_path / "good.txt").write_text("usable")
  (tmp_path / "wide.txt").write_bytes("wide text".encode("utf-16-le"))
  with pytest.raises(ValueError, match=r"1 of 2 files.*wide.txt \(holds NUL bytes: binary, or "
                     r"UTF-16 without a byte-order mark\)"):
    corpora.FileCorpus(str(tmp_path)).manifest()


def test_unchanged_plain_utf8_input_keeps_its_content_hash(tmp_path):
  (tmp_path / "sub").mkdir()
  (tmp_path / "a.txt").write_text("first")
  (tmp_path / "sub" / "b.txt").write_text("second")
  # SHA-256 over (length-prefixed relative path, length-prefixed bytes), as before the fix.
  assert corpora.FileCorpus(str(tmp_path)).manifest()["content_hash"] == (
      "21cf4369aee1a954ba0e4fcaecad39e3c851e5c90b791c64f18869fd40309a21")


def test_jsonl_null_or_number_text_is_refused_by_file_and_line(tmp_path):
  lines = [{"text": "real text"}, {"text": None}, {"text": 42}, {"text": "more text"}]
  (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
  with pytest.raises(ValueError, match=r"2 records .* have no text .*a.jsonl:2, .*a.jsonl:3: fix "
                     r"them or point data.text_field at the text; or set "
                     r"data.skip_unreadable_input=True"):
    corpora.FileCorpus(str(tmp_path)).manifest()
  with pytest.raises(ValueError, match=r"a.jsonl:2"):
    list(corpora.FileCorpus(str(tmp_path)).documents())
  corpus = corpora.FileCorpus(str(tmp_path), skip_unreadable=True)
  assert [(d.key, d.text) for d in corpus.documents()] == [("a.jsonl:1", "real text"),
                                                           ("a.jsonl:4", "more text")]
  assert corpus.manifest()["skipped_records"] == [dict(file="a.jsonl", records=2,
                                                       first="a.jsonl:2")]


def test_parquet_nulls_follow_the_jsonl_rule(tmp_path):
  pq.write_table(pa.table({"text": ["row zero", None]}), tmp_path / "d.parquet")
  with pytest.raises(ValueError, match=r"1 records .* have no text .*d.parquet:1"):
    corpora.FileCorpus(str(tmp_path)).manifest()
  corpus = corpora.FileCorpus(str(tmp_path), skip_unreadable=True)
  assert [d.text for d in corpus.documents()] == ["row zero"]
  assert corpus.manifest()["skipped_records"][0]["records"] == 1


def test_a_damaged_parquet_file_is_refused_by_name(tmp_path):
  pq.write_table(pa.table({"text": ["row zero"]}), tmp_path / "good.parquet")
  (tmp_path / "damaged.parquet").write_bytes(b"PAR1 not really")
  with pytest.raises(ValueError, match=r"1 of 2 files .*damaged.parquet \(not a readable Parquet "
                     r"file"):
    corpora.FileCorpus(str(tmp_path)).manifest()
  corpus = corpora.FileCorpus(str(tmp_path), skip_unreadable=True)
  assert [d.text for d in corpus.documents()] == ["row zero"]


def test_jsonl_lines_end_only_at_newline(tmp_path):
  (tmp_path / "a.jsonl").write_text(json.dumps({"text": "one\u2028two"}, ensure_ascii=False))
  assert [d.text for d in corpora.FileCorpus(str(tmp_path)).documents()] == ["one\u2028two"]


def test_a_looping_or_dangling_file_link_is_an_os_error_naming_it(tmp_path):
  (tmp_path / "good.txt").write_text("usable")
  (tmp_path / "loop.txt").symlink_to("loop.txt")
  with pytest.raises(OSError) as looped:
    corpora.FileCorpus(str(tmp_path / "*.txt"))
  assert looped.value.errno == errno.ELOOP and looped.value.filename.endswith("loop.txt")
  with pytest.raises(OSError) as named:
    corpora.FileCorpus(str(tmp_path / "loop.txt"))
  assert named.value.errno == errno.ELOOP
  (tmp_path / "loop.txt").unlink()
  (tmp_path / "gone.txt").symlink_to(tmp_path / "nowhere.txt")
  with pytest.raises(FileNotFoundError) as dangling:
    corpora.FileCorpus(str(tmp_path))
  assert dangling.value.filename.endswith("gone.txt")


def test_sentencepiece_failures_are_one_line_naming_the_field(tmp_path):
  characters = [chr(0x4E00 + index) for index in range(1000)]
  lines = ["".join(characters[start:start + 50]) + "\n" for start in range(0, 1000, 50)]
  with pytest.raises(ValueError, match=r"^data.tokenizer_vocab_size=400 is smaller than the "
                     r"\d+ distinct characters .*: raise it to at least \d+$"):
    tokenizers.train_sentencepiece(lines, 400, "bpe", tmp_path / "t.model")
  with pytest.raises(ValueError, match=r"no line SentencePiece can learn from .* longer than "
                     r"4192 bytes.*data.tokenizer=byte"):
    tokenizers.train_sentencepiece(["x" * 5000], 400, "bpe", tmp_path / "t.model")


def test_a_killed_prepare_leaves_no_temporary_for_good(tmp_path, files_config):
  _write_documents(tmp_path / "corpus", 30)
  script = ("import json, os, signal, sys\n"
            "from configs import base\n"
            "from data import preparation\n"
            "data = base.get_config().data\n"
            "data.update(json.loads(sys.argv[1]))\n"
            "preparation.prepare(data, progress=lambda *_: os.kill(os.getpid(), signal.SIGKILL))\n")
  overrides = dict(corpus="files", path=str(tmp_path / "corpus"), val_fraction=0.2,
                   prepared_dir=str(tmp_path / "cache"))
  killed = subprocess.Popen([sys.executable, "-c", script, json.dumps(overrides)],
                            cwd=PROJECT_ROOT)
  assert killed.wait(timeout=120) == -signal.SIGKILL
  [left] = list((tmp_path / "cache").iterdir())
  assert left.name.startswith(".") and (left / "train.bin").is_file()
  live = tmp_path / "cache" / f".{'0' * 20}.tmp-{socket.gethostname()}-{os.getpid()}-live"
  other_host = tmp_path / "cache" / f".{'0' * 20}.tmp-another-host-{killed.pid}-dead"
  live.mkdir()
  other_host.mkdir()
  prepared = preparation.prepare(files_config(), progress=None)
  assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(
      [prepared.directory.name, live.name, other_host.name])


def test_the_skip_flag_does_not_change_the_prepared_directory(tmp_path, files_config):
  _write_documents(tmp_path / "corpus", 20)
  plain = preparation.prepare(files_config(), progress=None)
  skipping = preparation.prepare(files_config(skip_unreadable_input=True), progress=None)
  assert skipping.directory == plain.directory and skipping.manifest["already_prepared"]
  assert plain.manifest["source"]["read_files"] == [f"doc{i:02d}.txt" for i in range(20)]
  assert plain.manifest["source"]["skipped_files"] == []


def _prepare_command(tmp_path, *flags: str) -> list[str]:
  return [sys.executable, "-m", "data", "prepare", "--corpus=files",
          f"--path={tmp_path / 'corpus'}", f"--prepared_dir={tmp_path / 'cache'}",
          "--val_fraction=0.2", "--workers=1", *flags]


@pytest.mark.entry
def test_prepare_ends_a_bad_input_with_one_line_and_exit_2(tmp_path):
  _write_documents(tmp_path / "corpus", 10)
  (tmp_path / "corpus" / "binary.txt").write_bytes(b"\0\1\2")
  refused = subprocess.run(_prepare_command(tmp_path), cwd=PROJECT_ROOT, capture_output=True,
                           text=True, check=False)
  assert refused.returncode == 2
  assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
  assert refused.stderr.startswith("error: data.path=") and "binary.txt" in refused.stderr
  missing = subprocess.run(_prepare_command(tmp_path, "--path=/no/such/dir"), cwd=PROJECT_ROOT,
                           capture_output=True, text=True, check=False)
  assert (missing.returncode, missing.stderr.count("\n")) == (2, 1)
  skipped = subprocess.run(_prepare_command(tmp_path, "--skip_unreadable_input"),
                           cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
  assert skipped.returncode == 0 and "tokens/s" in skipped.stdout
  assert "binary.txt" in skipped.stderr and "left out" in skipped.stderr
