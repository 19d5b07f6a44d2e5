"""Bits per byte by hand, compressor baselines, and the sweep report's compression section."""
import csv
import gzip
import json
import math
import pathlib

import numpy as np
import pytest

from configs import base
from data import preparation
from data import tokenizers
from export import compression
from export import compression_report
from records import results_csv
from scaling import collect


def _prepared(texts: list[str]) -> preparation.Prepared:
  """A byte-level validation split of `texts`, each followed by the end-of-document id."""
  tokenizer = tokenizers.ByteTokenizer()
  val = np.concatenate([np.append(tokenizer.encode(text), tokenizer.end_of_document_id)
                        for text in texts]).astype(np.uint16)
  manifest = {"val_bytes": sum(len(text.encode()) for text in texts), "val_tokens": len(val),
              "vocab_size": tokenizer.vocab_size}
  return preparation.Prepared(np.zeros(0, np.uint16), val, manifest, tokenizer, pathlib.Path("."))


def test_bits_per_byte_by_hand():
  # "héllo" is 6 UTF-8 bytes; with its end-of-document id, 7 tokens.
  prepared = _prepared(["héllo"])
  assert prepared.bytes_per_token == pytest.approx(6 / 7)
  loss = 1.25  # nats/token
  by_hand = loss * 7 / (6 * math.log(2))
  assert compression.bits_per_byte(loss, prepared.bytes_per_token) == pytest.approx(by_hand)
  split = compression.validation_data(prepared)
  assert split.data == "héllo".encode() and split.unit == "byte"
  assert compression.model_bits_per_unit(loss, split) == pytest.approx(by_hand)
  with pytest.raises(ValueError, match="bytes_per_token"):
    compression.bits_per_byte(loss, 0.0)


def test_validation_text_is_the_exact_split_bytes():
  texts = ["def f():\n  return 1\n", "ünïcode ✓", "x"]
  split = compression.validation_data(_prepared(texts))
  assert split.data == "".join(texts).encode()
  assert split.units == sum(len(text.encode()) for text in texts) and split.tokens == 34 + 3


def test_documents_split_on_the_end_id():
  parts = compression.documents(np.array([5, 6, 9, 7, 9, 9, 8]), 9)
  assert [part.tolist() for part in parts] == [[5, 6], [7], [8]]


def test_compressors_see_structure_and_noise():
  repetitive = compression.compressed_bits_per_byte(b"abcabcabd" * 2000)
  assert set(repetitive) == {"gzip -9", "bz2 -9", "lzma -9"}
  assert all(bits < 0.3 for bits in repetitive.values())
  noise = compression.compressed_bits_per_byte(np.random.default_rng(0).bytes(20_000))
  assert all(7.9 < bits < 8.3 for bits in noise.values())
  data = b"the same bytes " * 100
  assert compression.compressed_bits_per_byte(data)["gzip -9"] == pytest.approx(
      8 * len(gzip.compress(data, 9)) / len(data))
  with pytest.raises(ValueError, match="empty"):
    compression.compressed_bits_per_byte(b"")


def test_token_id_corpora_count_bits_per_token():
  manifest = {"val_bytes": 0, "val_tokens": 4, "vocab_size": 64}
  prepared = preparation.Prepared(np.zeros(0, np.uint16), np.array([1, 2, 3, 63], np.uint16),
                                  manifest, tokenizers.TokenIdTokenizer(64), pathlib.Path("."))
  split = compression.validation_data(prepared)
  assert split.unit == "token" and split.data == bytes([1, 2, 3, 63])
  assert compression.model_bits_per_unit(math.log(2), split) == pytest.approx(1.0)


def _fake_sweep(tmp_path: pathlib.Path) -> pathlib.Path:
  """results.csv and result.json files of four runs on a small synthetic corpus."""
  data = base.get_config().data
  data.update(corpus="synthetic", synthetic_vocab=16, synthetic_states=4,
              synthetic_tokens=40_000, val_fraction=0.2, prepared_dir=str(tmp_path / "cache"))
  rows = []
  for index, (n, d, loss) in enumerate([(1000, 4096, 2.4), (1000, 8192, 2.3),
                                        (4000, 4096, 2.2), (4000, 8192, 2.1)]):
    run_dir = tmp_path / "runs" / f"r{index}"
    run_dir.mkdir(parents=True)
    (run_dir / "result.json").write_text(json.dumps({
        "status": "completed", "final_eval_loss": loss, "tokens": d,
        "n_params_non_embedding": n, "n_params_total": n + 64, "config": {"data": data.to_dict()}}))
    rows.append({"run_id": f"r{index}", "status": "completed",
                 "curve_path": str(run_dir / "metrics.jsonl")})
  rows.append({"run_id": "failed", "status": "diverged", "curve_path": "/nowhere/metrics.jsonl"})
  results_csv = tmp_path / "results.csv"
  with open(results_csv, "w", newline="") as handle:
    writer = csv.DictWriter(handle, fieldnames=["run_id", "status", "curve_path"])
    writer.writeheader()
    writer.writerows(rows)
  return results_csv


def test_report_section_has_the_table_and_the_figure(tmp_path):
  results_csv = _fake_sweep(tmp_path)
  rows, baseline = compression_report.collect(results_csv)
  assert [row.run_id for row in rows] == ["r0", "r1", "r2", "r3"]
  assert rows[0].bits == pytest.approx(2.4 / math.log(2))  # one packed byte per token
  assert rows[3].parameter_bytes == 4 * 4064 and rows[3].training_bytes == 8192
  assert baseline.entropy_bits is not None and 0 < baseline.entropy_bits < 4
  lines = compression_report.section(results_csv, tmp_path / "report")
  text = "\n".join(lines)
  for name in ("gzip -9", "bz2 -9", "lzma -9", "| r3 | 4,000 | 8,192 | 2.1000 |"):
    assert name in text
  assert (tmp_path / "report" / compression_report.FIGURE).stat().st_size > 10_000


def test_results_csv_rows_carry_bits_per_byte(tmp_path):
  row = collect.result_row(tmp_path, {"status": "completed", "bits_per_byte": 1.75}, None)
  assert row["bits_per_byte"] == 1.75 and "bits_per_byte" in results_csv.COLUMNS
  assert collect.result_row(tmp_path, {"status": "completed"}, None)["bits_per_byte"] is None


def test_report_section_is_empty_for_tables_without_run_directories(tmp_path):
  table = tmp_path / "published.csv"
  table.write_text("run_id,status,n,d,loss\na,completed,1e6,1e9,3.0\n")
  assert compression_report.section(table, tmp_path) == []
  assert compression_report.section("", tmp_path) == []
