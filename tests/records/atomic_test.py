"""records.atomic: whole files or none, valid JSON, dead writers' temporaries cleared."""
import json
import math
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from records import atomic


def test_json_round_trip_replaces_non_finite_floats_by_null(tmp_path):
  path = tmp_path / "result.json"
  atomic.write_json_atomic(path, {"loss": math.nan, "curve": [1.0, math.inf, (2.0, -math.inf)]})
  assert json.loads(path.read_text()) == {"loss": None, "curve": [1.0, None, [2.0, None]]}


def test_json_safe_turns_numpy_values_into_plain_json_types():
  value = {"ok": np.bool_(True), "count": np.int64(3), 7: np.float32(0.5),
           "curve": np.array([[1.0, np.nan], [np.inf, 2.0]]), "loss": np.float64(-np.inf)}
  safe = atomic.json_safe(value)
  assert safe == {"ok": True, "count": 3, "7": 0.5, "curve": [[1.0, None], [None, 2.0]],
                  "loss": None}
  assert [type(safe[key]) for key in ("ok", "count", "7")] == [bool, int, float]
  assert type(safe["curve"][0][0]) is float
  assert json.loads(json.dumps(safe, allow_nan=False)) == safe


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
  path = tmp_path / "fits.json"
  atomic.write_text_atomic(path, "old")

  def failing_replace(source, target):
    raise OSError(28, "No space left on device", str(target))

  monkeypatch.setattr(os, "replace", failing_replace)
  with pytest.raises(OSError):
    atomic.write_text_atomic(path, "new")
  assert path.read_text() == "old"
  assert [p.name for p in tmp_path.iterdir()] == ["fits.json"]


def test_unserialisable_payload_writes_nothing(tmp_path):
  with pytest.raises(TypeError):
    atomic.write_json_atomic(tmp_path / "result.json", {"bad": object()})
  assert list(tmp_path.iterdir()) == []


def _dead_pid() -> int:
  finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                            capture_output=True, text=True, check=True)
  return int(finished.stdout)


def test_temporary_path_names_the_host_and_the_process(tmp_path):
  temporary = atomic.temporary_path(tmp_path / "result.json")
  assert temporary.parent == tmp_path
  assert temporary.name.startswith(f".result.json.tmp-{socket.gethostname()}-{os.getpid()}-")
  assert temporary != atomic.temporary_path(tmp_path / "result.json")


def test_remove_stale_temporaries_clears_only_dead_writers_temporaries(tmp_path):
  dead, host = _dead_pid(), socket.gethostname()
  (tmp_path / "report.md").write_text("kept")
  (tmp_path / f".report.md.tmp-{dead}-deadbeef").write_text("half")  # named before HOST
  (tmp_path / f".fits.json.tmp-{host}-{dead}-0badcafe").write_text("half")
  (tmp_path / ".sweep.json.tmp-nopid").write_text("half")
  (tmp_path / f".0123abcd.tmp-{host}-{dead}-feedf00d").mkdir()  # a killed preparation
  (tmp_path / f".0123abcd.tmp-{host}-{dead}-feedf00d" / "train.bin").write_bytes(b"\0")
  live = [f".result.json.tmp-{host}-{os.getpid()}-12345678",
          f".0123abcd.tmp-another-host-{dead}-87654321"]
  for name in live:
    (tmp_path / name).write_text("being written")
  removed = atomic.remove_stale_temporaries(tmp_path)
  assert sorted(p.name for p in removed) == sorted([
      f".report.md.tmp-{dead}-deadbeef", f".fits.json.tmp-{host}-{dead}-0badcafe",
      ".sweep.json.tmp-nopid", f".0123abcd.tmp-{host}-{dead}-feedf00d"])
  assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["report.md", *live])
  assert atomic.remove_stale_temporaries(tmp_path / "missing") == []


def test_process_alive():
  assert atomic.process_alive(os.getpid())
  assert not atomic.process_alive(_dead_pid())
