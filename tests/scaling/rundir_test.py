"""Run states read from run directories."""
import json

from records import atomic
from scaling import lease, rundir


def test_states(tmp_path):
  assert rundir.read_state(tmp_path, 60) == rundir.RunState("pending", 0, None, "")
  (tmp_path / "metrics.jsonl").write_text(
      json.dumps({"kind": "eval", "tokens": 2048}) + "\n" + json.dumps({"tokens": 4096}) + "\n")
  holder = lease.Lease(tmp_path, 60)
  holder.acquire()
  assert rundir.read_state(tmp_path, 60) == rundir.RunState("running", 4096, None, "")
  holder.release()
  assert rundir.read_state(tmp_path, 60).state == "pending"
  for status, state in (("completed", "done"), ("diverged", "diverged"), ("failed", "failed")):
    atomic.write_json_atomic(tmp_path / "result.json",
                             dict(status=status, tokens=8192, final_eval_loss=2.5, error="boom"))
    read = rundir.read_state(tmp_path, 60)
    assert (read.state, read.tokens_done, read.final_eval_loss) == (state, 8192, 2.5)
    assert rundir.is_final(read.state)
  assert read.reason == "boom"


def test_last_tokens_skips_partial_lines(tmp_path):
  (tmp_path / "metrics.jsonl").write_text('{"tokens": 10}\n{"tokens": 2')
  assert rundir.last_tokens(tmp_path / "metrics.jsonl") == 10
  assert rundir.last_tokens(tmp_path / "absent.jsonl") == 0
