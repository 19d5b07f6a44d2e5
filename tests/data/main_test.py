"""Tests for the `python -m data` command line."""
import pathlib
import subprocess
import sys

import pytest

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.entry
def test_prepare_twice_prints_speed_then_nothing_to_do(tmp_path):
  (tmp_path / "corpus").mkdir()
  for index in range(30):
    (tmp_path / "corpus" / f"{index}.txt").write_text(f"document {index}\n" * 50)
  command = [sys.executable, "-m", "data", "prepare", "--corpus=files",
             f"--path={tmp_path / 'corpus'}", f"--prepared_dir={tmp_path / 'cache'}",
             "--val_fraction=0.2", "--workers=1", "--seq_len=64"]
  first = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
  assert "tokens/s" in first.stdout and "100.0%" in first.stderr
  second = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
  assert second.stdout.startswith("already prepared:") and "nothing to do" in second.stdout
  bad = subprocess.run(command[:-1] + ["--seq_len=100000"], cwd=PROJECT_ROOT,
                       capture_output=True, text=True)
  assert bad.returncode != 0 and "shorten model.seq_len" in bad.stderr
