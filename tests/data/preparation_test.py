"""Tests for data/preparation.py."""
import json
import pathlib
import subprocess
import sys
import sysconfig

import numpy as np
import pytest

from configs import base
from data import preparation
from data import synthetic

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def text_corpus(tmp_path) -> dict[str, str]:
  """60 documents of real Python source, each with a unique first line, as .txt files."""
  sources = sorted(pathlib.Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))[:60]
  documents = {}
  for index, source in enumerate(sources):
    documents[f"doc{index:02d}.txt"] = f"# document {index}\n" + source.read_text()[:3000]
  corpus = tmp_path / "corpus"
  corpus.mkdir()
  for name, text in documents.items():
    (corpus / name).write_text(text)
  return documents


def _decoded_documents(tokens: np.ndarray, tokenizer) -> list[str]:
  ends = np.flatnonzero(np.asarray(tokens) == tokenizer.end_of_document_id)
  starts = np.concatenate([[0], ends[:-1] + 1])
  assert ends[-1] == len(tokens) - 1
  return [tokenizer.decode(tokens[s:e]) for s, e in zip(starts, ends)]


@pytest.mark.parametrize("tokenizer", ["byte", "sentencepiece", "bpe"])
def test_round_trip_and_disjoint_splits(text_corpus, tokenizer, files_config):
  config = files_config(tokenizer=tokenizer, tokenizer_vocab_size=600)
  prepared = preparation.prepare(config, seq_len=16, progress=None)
  train = _decoded_documents(prepared.train_tokens, prepared.tokenizer)
  val = _decoded_documents(prepared.val_tokens, prepared.tokenizer)
  assert sorted(train + val) == sorted(text_corpus.values())
  assert not set(train) & set(val)
  assert 3 <= len(val) <= 25
  manifest = prepared.manifest
  assert (manifest["train_documents"], manifest["val_documents"]) == (len(train), len(val))
  assert manifest["train_tokens"] == len(prepared.train_tokens)
  assert manifest["val_bytes"] == sum(len(text.encode()) for text in val)
  assert manifest["vocab_size"] == prepared.tokenizer.vocab_size
  assert prepared.train_tokens.dtype == np.uint16
  if tokenizer in ("sentencepiece", "bpe"):
    model_file = {"sentencepiece": "tokenizer.model", "bpe": "tokenizer.json"}[tokenizer]
    assert (prepared.directory / model_file).is_file()
    assert prepared.bytes_per_token > 1.5
  else:
    assert prepared.bytes_per_token == pytest.approx(1.0, abs=0.01)


def test_second_call_does_nothing(tmp_path, text_corpus, files_config):
  first = preparation.prepare(files_config(), progress=None)
  modified = (first.directory / "train.bin").stat().st_mtime_ns
  second = preparation.prepare(files_config(), progress=None)
  assert (first.manifest["already_prepared"], second.manifest["already_prepared"]) == (False, True)
  assert second.directory == first.directory
  assert (first.directory / "train.bin").stat().st_mtime_ns == modified
  assert [p.name for p in (tmp_path / "cache").iterdir()] == [first.directory.name]
  other_seed = preparation.prepare(files_config(split_seed=1), progress=None)
  assert other_seed.directory != first.directory


def test_content_change_prepares_again(tmp_path, text_corpus, files_config):
  first = preparation.prepare(files_config(), progress=None)
  (tmp_path / "corpus" / "doc00.txt").write_text("changed")
  second = preparation.prepare(files_config(), progress=None)
  assert second.manifest["content_hash"] != first.manifest["content_hash"]
  assert second.directory != first.directory


def test_half_written_preparation_is_not_used(tmp_path, text_corpus, files_config):
  first = preparation.prepare(files_config(), progress=None)
  key = first.directory.name
  partial = tmp_path / "cache" / f".{key}.tmp-1-dead"
  first.directory.rename(partial)
  (partial / preparation.MANIFEST_FILE).unlink()
  again = preparation.prepare(files_config(), progress=None)
  assert not again.manifest["already_prepared"]
  np.testing.assert_array_equal(again.train_tokens, np.fromfile(partial / "train.bin", np.uint16))


def test_loser_of_the_rename_keeps_the_winners_result(tmp_path, text_corpus, files_config):
  config = files_config()
  winner = preparation.prepare(config, progress=None)
  modified = (winner.directory / "train.bin").stat().st_mtime_ns
  corpus, source_manifest, identity = preparation._source_and_identity(config)
  preparation._build(corpus, source_manifest, identity, config, winner.directory, workers=1,
                     progress=None)
  assert (winner.directory / "train.bin").stat().st_mtime_ns == modified
  assert [p.name for p in (tmp_path / "cache").iterdir()] == [winner.directory.name]


def test_concurrent_preparations_agree(tmp_path, text_corpus, files_config):
  script = (
      "import json, sys\n"
      "from configs import base\n"
      "from data import pipeline\n"
      "if __name__ == '__main__':\n"
      "  data = base.get_config().data\n"
      "  data.update(json.loads(sys.argv[1]))\n"
      "  prepared = pipeline.prepare(data, progress=None)\n"
      "  print(prepared.directory, prepared.manifest['train_tokens'])\n")
  overrides = json.dumps(dict(corpus="files", path=str(tmp_path / "corpus"), val_fraction=0.2,
                              prepared_dir=str(tmp_path / "cache")))
  processes = [subprocess.Popen([sys.executable, "-c", script, overrides], cwd=PROJECT_ROOT,
                                stdout=subprocess.PIPE, text=True) for _ in range(2)]
  outputs = [process.communicate(timeout=120)[0].strip() for process in processes]
  assert [process.returncode for process in processes] == [0, 0]
  assert outputs[0] == outputs[1]
  single = preparation.prepare(files_config(), workers=1, progress=None)
  assert outputs[0] == f"{single.directory} {single.manifest['train_tokens']}"
  assert single.manifest["already_prepared"]
  assert [p.name for p in (tmp_path / "cache").iterdir()] == [single.directory.name]


def test_encoding_processes_give_the_same_tokens(tmp_path, text_corpus, files_config):
  config = files_config(tokenizer="sentencepiece", tokenizer_vocab_size=500)
  in_process = preparation.prepare(config, progress=None)
  config.prepared_dir = str(tmp_path / "cache_workers")
  with_workers = preparation.prepare(config, workers=2, progress=None)
  for name in ("train.bin", "val.bin"):
    expected = (in_process.directory / name).read_bytes()
    assert (with_workers.directory / name).read_bytes() == expected


def test_synthetic_corpus(files_config):
  config = files_config(corpus="synthetic", synthetic_vocab=32, synthetic_states=4,
                        synthetic_tokens=40 * synthetic.DOCUMENT_TOKENS + 7)
  prepared = preparation.prepare(config, seq_len=128, progress=None)
  manifest = prepared.manifest
  chain = synthetic.make_markov_chain(32, 4, seed=0)
  assert manifest["source"]["entropy_nats_per_token"] == pytest.approx(chain.entropy_rate)
  assert manifest["train_tokens"] + manifest["val_tokens"] == 40 * synthetic.DOCUMENT_TOKENS + 7
  assert manifest["train_documents"] + manifest["val_documents"] == 41
  assert manifest["val_tokens"] > 0
  assert int(prepared.train_tokens.max()) < 32
  assert prepared.bytes_per_token is None


def test_token_files_are_used_in_place(tmp_path, files_config):
  tokens = np.random.default_rng(0).integers(0, 1000, size=5000).astype(np.uint16)
  tokens.tofile(tmp_path / "tokens.bin")
  config = files_config(corpus="tokens", path=str(tmp_path / "tokens.bin"),
                        token_dtype="uint16", tokenizer_vocab_size=1000, val_fraction=0.1)
  prepared = preparation.prepare(config, progress=None)
  assert pathlib.Path(prepared.train_tokens.filename) == tmp_path / "tokens.bin"
  np.testing.assert_array_equal(prepared.train_tokens, tokens[:4500])
  np.testing.assert_array_equal(prepared.val_tokens, tokens[4500:])
  assert sorted(p.name for p in prepared.directory.iterdir()) == ["manifest.json"]
  assert preparation.prepare(config, progress=None).manifest["already_prepared"]


def test_stdlib_byte_preparation(tmp_path):
  config = base.get_config().data
  config.prepared_dir = str(tmp_path)
  prepared = preparation.prepare(config, seq_len=1024, progress=None)
  manifest = prepared.manifest
  assert manifest["train_tokens"] > 10_000_000 and manifest["val_tokens"] > 65_536 + 1024
  assert manifest["source"]["python_version"] == sys.version.split()[0]
  assert manifest["tokens_per_second"] > 0
  assert preparation.prepare(config, seq_len=1024, progress=None).manifest["already_prepared"]


def test_errors(tmp_path, text_corpus, files_config):
  with pytest.raises(ValueError, match=r"the val split has \d+ tokens, fewer than "
                     r"model.seq_len \+ 1 = 1000001"):
    preparation.prepare(files_config(), seq_len=1_000_000, progress=None)
  with pytest.raises(ValueError, match="the validation split is empty: raise data.val_fraction"):
    preparation.prepare(files_config(val_fraction=1e-9), progress=None)
  with pytest.raises(ValueError, match="the training split is empty: lower data.val_fraction"):
    preparation.prepare(files_config(val_fraction=1 - 1e-9), progress=None)
  with pytest.raises(ValueError, match=r"data.val_fraction=0.0: use a fraction in \(0, 1\)"):
    preparation.prepare(files_config(val_fraction=0.0), progress=None)
  with pytest.raises(ValueError, match="data.corpus='web'"):
    preparation.prepare(files_config(corpus="web"), progress=None)
  empty = tmp_path / "empty"
  empty.mkdir()
  (empty / "a.txt").write_text("")
  with pytest.raises(ValueError, match="has no text"):
    preparation.prepare(files_config(path=str(empty)), progress=None)
  assert not list((tmp_path / "cache").glob(".*tmp*"))
