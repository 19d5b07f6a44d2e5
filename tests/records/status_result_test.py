"""records.status and records.result: the status vocabularies and result.json's keys and I/O."""
import json

import pytest

from records import layout
from records import result
from records import status


def test_the_on_disk_status_values_and_the_sweep_states_they_map_to():
  assert [str(value) for value in status.RunStatus] == ["completed", "diverged", "failed"]
  assert [str(value) for value in status.SweepState] == [
      "pending", "running", "done", "diverged", "failed"]
  assert [status.SweepState.of(value) for value in status.RunStatus] == [
      status.SweepState.DONE, status.SweepState.DIVERGED, status.SweepState.FAILED]
  assert status.SweepState.of("completed") == "done"
  for unknown in ("preempted", None, ["completed"]):
    assert status.SweepState.of(unknown) is status.SweepState.FAILED
  assert [state.final for state in status.SweepState] == [False, False, True, True, True]
  assert [value.finished for value in status.RunStatus] == [True, True, False]


def test_every_key_has_a_unit_and_a_meaning():
  assert len(set(result.Key)) == len(result.Key)
  for key in result.Key:
    assert key.unit and key.meaning, key
  assert (result.Key.FINAL_EVAL_LOSS.unit, result.Key.FLOPS_EXACT.unit,
          result.Key.TOKENS.unit) == ("nats/token", "FLOPs", "tokens")


def test_a_result_goes_to_disk_and_back(tmp_path):
  record = {result.Key.STATUS: status.RunStatus.DIVERGED, "tokens": 512, "diverged_step": 3,
            "final_eval_loss": float("nan")}
  path = result.write_result(tmp_path, record)
  assert path == tmp_path / layout.RESULT_FILE
  assert json.loads(path.read_text()) == {"status": "diverged", "tokens": 512,
                                          "diverged_step": 3, "final_eval_loss": None}
  assert result.read_result(tmp_path) == json.loads(path.read_text())
  assert result.read_result(tmp_path / "absent") is None


@pytest.mark.parametrize("record, message", [
    ({"status": "completed", "final_loss": 2.0}, r"keys \['final_loss'\] are not in"),
    ({"status": "preempted"}, "status 'preempted' is not one of"),
    ({"tokens": 5}, "status None is not one of"),
])
def test_a_record_off_the_schema_is_refused_and_nothing_is_written(tmp_path, record, message):
  with pytest.raises(TypeError, match=message):
    result.write_result(tmp_path, record)
  assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text, message", [("{", "is not valid JSON"),
                                           ("[1]", "holds list, not a JSON object")])
def test_an_unreadable_result_is_named(tmp_path, text, message):
  (tmp_path / layout.RESULT_FILE).write_text(text)
  with pytest.raises(ValueError, match=message):
    result.read_result(tmp_path)


def test_failed_results_are_set_aside_under_a_name_no_reader_takes_for_the_result():
  name = layout.failed_result_file(1700000000, 2)
  assert name == "result.failed-1700000000-2.json" and name != layout.RESULT_FILE
