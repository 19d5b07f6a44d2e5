"""records.atomic: whole files or none, valid JSON, stale temporaries cleared."""
import json
import math
import os

import pytest

from records import atomic


def test_json_round_trip_replaces_non_finite_floats_by_null(tmp_path):
  path = tmp_path / "result.json"
  atomic.write_json_atomic(path, {"loss": math.nan, "curve": [1.0, math.inf, (2.0, -math.inf)]})
  assert json.loads(path.read_text()) == {"loss": None, "curve": [1.0, None, [2.0, None]]}


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


def test_remove_stale_temporaries_clears_only_temporaries(tmp_path):
  (tmp_path / "report.md").write_text("kept")
  (tmp_path / ".report.md.tmp-123-deadbeef").write_text("half")
  removed = atomic.remove_stale_temporaries(tmp_path)
  assert [p.name for p in removed] == [".report.md.tmp-123-deadbeef"]
  assert [p.name for p in tmp_path.iterdir()] == ["report.md"]
  assert atomic.remove_stale_temporaries(tmp_path / "missing") == []
