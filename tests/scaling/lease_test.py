"""Leases: exclusive creation, heartbeat, stale takeover, concurrent contenders."""
import json
import multiprocessing
import os
import subprocess
import sys
import time

from scaling import lease


def test_exclusive_until_released(tmp_path):
  first, second = lease.Lease(tmp_path, 60), lease.Lease(tmp_path, 60)
  assert first.acquire(note="x")
  assert not second.acquire()
  assert lease.is_held(tmp_path, 60)
  info = json.loads((tmp_path / "lease.json").read_text())
  assert info["pid"] == os.getpid() and info["owner"] == first.owner and info["note"] == "x"
  assert first.heartbeat()
  first.release()
  assert not (tmp_path / "lease.json").exists()
  assert second.acquire()


def test_stale_heartbeat_is_taken_over_and_the_old_holder_learns_it(tmp_path):
  old, new = lease.Lease(tmp_path, 5), lease.Lease(tmp_path, 5)
  assert old.acquire()
  long_ago = time.time() - 60
  os.utime(tmp_path / "lease.json", (long_ago, long_ago))
  assert not lease.is_held(tmp_path, 5)
  assert new.acquire()
  assert not old.heartbeat()
  old.release()
  assert json.loads((tmp_path / "lease.json").read_text())["owner"] == new.owner
  assert list(tmp_path.iterdir()) == [tmp_path / "lease.json"]


def test_lease_of_a_dead_process_on_this_host_is_stale_at_once(tmp_path):
  holder = subprocess.run(
      [sys.executable, "-c", "import sys; from scaling import lease; "
       f"assert lease.Lease({str(tmp_path)!r}, 600).acquire()"], check=True)
  assert holder.returncode == 0
  assert (tmp_path / "lease.json").exists()
  assert not lease.is_held(tmp_path, 600)
  assert lease.Lease(tmp_path, 600).acquire()


def test_update_adds_fields(tmp_path):
  holder = lease.Lease(tmp_path, 60)
  holder.acquire()
  holder.update(trainer_pid=123)
  assert json.loads((tmp_path / "lease.json").read_text())["trainer_pid"] == 123
  assert holder.heartbeat()


def _contend(path, results):
  results.put(lease.Lease(path, 600).acquire())
  time.sleep(1.0)


def test_one_of_many_concurrent_contenders_wins(tmp_path):
  stale = {"owner": "gone", "host": "elsewhere", "pid": 1}
  (tmp_path / "lease.json").write_text(json.dumps(stale))
  long_ago = time.time() - 3600
  os.utime(tmp_path / "lease.json", (long_ago, long_ago))
  results = multiprocessing.get_context("fork").Queue()
  processes = [multiprocessing.get_context("fork").Process(target=_contend,
                                                           args=(tmp_path, results))
               for _ in range(6)]
  for process in processes:
    process.start()
  wins = [results.get(timeout=30) for _ in processes]
  for process in processes:
    process.join()
  assert sum(wins) == 1
