"""Tests for data/token_files.py."""
import numpy as np
import pytest

from data import token_files


def test_directory_with_train_and_val(tmp_path):
  np.arange(100, dtype=np.uint16).tofile(tmp_path / "train.bin")
  np.arange(10, dtype=np.uint16).tofile(tmp_path / "val.bin")
  files = token_files.TokenFiles(str(tmp_path), "uint16", 100, 0.5)
  np.testing.assert_array_equal(files.memmap(files.train), np.arange(100))
  np.testing.assert_array_equal(files.memmap(files.val), np.arange(10))
  assert len(files.manifest()["content_hash"]) == 64


def test_single_file_splits_off_the_tail(tmp_path):
  np.arange(1000, dtype=np.uint32).tofile(tmp_path / "all.bin")
  files = token_files.TokenFiles(str(tmp_path / "all.bin"), "uint32", 70_000, 0.1)
  np.testing.assert_array_equal(files.memmap(files.train), np.arange(900))
  np.testing.assert_array_equal(files.memmap(files.val), np.arange(900, 1000))


def test_errors(tmp_path):
  np.arange(10, dtype=np.uint16).tofile(tmp_path / "a.bin")
  with pytest.raises(ValueError, match="token_dtype=uint16 holds ids below 65536 but "
                     "data.tokenizer_vocab_size=70000: use uint32"):
    token_files.TokenFiles(str(tmp_path / "a.bin"), "uint16", 70_000, 0.1)
  with pytest.raises(ValueError, match="data.token_dtype='int8'"):
    token_files.TokenFiles(str(tmp_path / "a.bin"), "int8", 100, 0.1)
  with pytest.raises(ValueError, match="not a multiple of 4"):
    np.arange(3, dtype=np.uint16).tofile(tmp_path / "odd.bin")
    token_files.TokenFiles(str(tmp_path / "odd.bin"), "uint32", 100, 0.1)
  with pytest.raises(ValueError, match="holds id 9 >= data.tokenizer_vocab_size=5"):
    token_files.TokenFiles(str(tmp_path / "a.bin"), "uint16", 5, 0.1).manifest()
  with pytest.raises(ValueError, match="no such token file"):
    token_files.TokenFiles(str(tmp_path / "missing.bin"), "uint16", 100, 0.1)
  (tmp_path / "empty.bin").write_bytes(b"")
  with pytest.raises(ValueError, match="empty.bin is empty"):
    token_files.TokenFiles(str(tmp_path / "empty.bin"), "uint16", 100, 0.1)
  with pytest.raises(ValueError, match="val.bin does not exist"):
    np.arange(10, dtype=np.uint16).tofile(tmp_path / "train.bin")
    token_files.TokenFiles(str(tmp_path), "uint16", 100, 0.1)
