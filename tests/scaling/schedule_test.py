"""The launcher loop with an in-process fake executor (no processes)."""
import pathlib

from records import atomic
from scaling import lease, rundir, runner, schedule


class _Executor:
  """Finishes each run at once; optional side effects when a run starts."""

  def __init__(self, on_start=None, busy=()):
    self.started: list[str] = []
    self.on_start = on_start or {}
    self.busy = set(busy)

  def start(self, run_dir: pathlib.Path) -> pathlib.Path:
    self.started.append(run_dir.name)
    if run_dir.name in self.on_start:
      self.on_start[run_dir.name]()
    if run_dir.name not in self.busy:
      atomic.write_json_atomic(run_dir / "result.json", {"status": "completed"})
    return run_dir

  def poll(self, handle: pathlib.Path) -> int:
    if handle.name in self.busy:
      self.busy.discard(handle.name)
      return runner.EXIT_BUSY
    return runner.EXIT_FINISHED

  def stop(self, handle: pathlib.Path) -> None:
    del handle


def _dirs(tmp_path, names):
  paths = [tmp_path / name for name in names]
  for path in paths:
    path.mkdir()
  return paths


def test_failed_runs_are_retried_but_not_those_failed_elsewhere_meanwhile(tmp_path):
  first, second, third = _dirs(tmp_path, ["a", "b", "c"])
  atomic.write_json_atomic(first / "result.json", {"status": "failed"})

  def another_launcher_fails_second():
    atomic.write_json_atomic(second / "result.json", {"status": "failed"})

  executor = _Executor(on_start={"a": another_launcher_fails_second})
  assert schedule.run_all(executor, [first, second, third], max_parallel=1, stale_seconds=30,
                          poll_seconds=0.01)
  assert executor.started == ["a", "c"]
  assert rundir.read_state(second, 30).state == "failed"


def test_a_run_leased_elsewhere_is_waited_for(tmp_path):
  (run_dir,) = _dirs(tmp_path, ["a"])
  stale_seconds = 1.0  # the holder never beats: its lease is waited on until it goes stale
  holder = lease.Lease(run_dir, stale_seconds)
  holder.acquire()

  def finish_elsewhere():
    atomic.write_json_atomic(run_dir / "result.json", {"status": "completed"})
    holder.release()

  executor = _Executor(busy=["a"])
  original_poll = executor.poll

  def poll(handle):
    exit_code = original_poll(handle)
    finish_elsewhere()
    return exit_code

  executor.poll = poll
  assert schedule.run_all(executor, [run_dir], max_parallel=1, stale_seconds=stale_seconds,
                          poll_seconds=0.01)
  assert executor.started == ["a"]
  assert rundir.read_state(run_dir, 30).state == "done"


def test_a_run_waits_until_ready_and_starts_once_nothing_else_can_run(tmp_path):
  trunk, branch, orphan = _dirs(tmp_path, ["trunk", "branch", "orphan"])
  executor = _Executor()

  def ready(run_dir: pathlib.Path) -> bool:
    if run_dir == branch:
      return "trunk" in executor.started
    return run_dir != orphan  # waits on a run that never comes

  assert schedule.run_all(executor, [branch, orphan, trunk], max_parallel=2, stale_seconds=30,
                          poll_seconds=0.01, ready=ready)
  assert executor.started == ["trunk", "branch", "orphan"]


class _Affine(_Executor):
  """Scores runs by a fixed table (`schedule.Executor.affinity`)."""

  def __init__(self, scores):
    super().__init__()
    self.scores = scores

  def affinity(self, run_dir: pathlib.Path) -> int:
    return self.scores[run_dir.name]


def test_the_queued_run_of_highest_affinity_starts_first_and_equals_keep_their_order(tmp_path):
  dirs = _dirs(tmp_path, ["a", "b", "c", "d"])
  executor = _Affine(dict(a=0, b=1, c=2, d=1))
  assert schedule.run_all(executor, dirs, max_parallel=1, stale_seconds=30, poll_seconds=0.01)
  assert executor.started == ["c", "b", "d", "a"]
