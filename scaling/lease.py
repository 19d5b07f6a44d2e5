"""Run leases: a lock file with a heartbeat, so that one run is trained by one process at a time.

A lease is `RUNDIR/lease.json`, created atomically with O_CREAT | O_EXCL and holding its owner's
id, host and pid. The holder refreshes the file's mtime every few seconds (the heartbeat). A lease
is stale when its heartbeat is older than `stale_seconds`, or at once when its holder is a process
on this host that no longer exists (or is a zombie). A stale lease is taken over under a takeover
marker (`lease.json.takeover`, created with O_EXCL: of several contenders exactly one holds it),
whose holder checks that the lease is still the stale one it read and then replaces it
atomically, so the lease file never disappears while contenders read it. A marker left by a
contender that died mid-takeover expires after `stale_seconds`. Before each heartbeat the holder checks that the file still names it; if not, it has lost the
lease and must stop its run.
"""
import json
import os
import pathlib
import socket
import time
import uuid
from typing import Any

from records import atomic
from records import layout


def read(path: pathlib.Path) -> tuple[dict[str, Any] | None, float | None]:
  """The lease's content and mtime (seconds since the epoch); (None, None) when absent.

  A lease that exists but cannot be parsed yet (being written) reads as ({}, mtime).
  """
  try:
    with open(path, encoding="utf-8") as lease_file:
      # The mtime of the file whose text is read: a stat by name could see an older lease
      # that a contender has since replaced, and pair its stale mtime with the new content.
      mtime = os.fstat(lease_file.fileno()).st_mtime
      text = lease_file.read()
  except FileNotFoundError:
    return None, None
  try:
    return json.loads(text), mtime
  except json.JSONDecodeError:
    return {}, mtime


def is_stale(info: dict[str, Any], mtime: float, stale_seconds: float,
             now: float | None = None) -> bool:
  """Whether a lease with this content and mtime may be taken over."""
  now = time.time() if now is None else now
  if now - mtime > stale_seconds:
    return True
  if info.get("host") == socket.gethostname() and "pid" in info:
    return not atomic.process_alive(int(info["pid"]))
  return False


def is_held(run_dir: pathlib.Path, stale_seconds: float) -> bool:
  """Whether some live process holds the lease of `run_dir`."""
  info, mtime = read(run_dir / layout.LEASE_FILE)
  return info is not None and not is_stale(info, mtime, stale_seconds)


class Lease:
  """The lease of one run directory, held by this process."""

  def __init__(self, run_dir: pathlib.Path, stale_seconds: float):
    self.path = pathlib.Path(run_dir) / layout.LEASE_FILE
    self.stale_seconds = stale_seconds
    self.owner = uuid.uuid4().hex
    self.held = False

  def _content(self, extra: dict[str, Any]) -> dict[str, Any]:
    return dict(owner=self.owner, host=socket.gethostname(), pid=os.getpid(),
                acquired=time.time(), **extra)

  def _create(self, extra: dict[str, Any]) -> bool:
    try:
      descriptor = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
      return False
    with os.fdopen(descriptor, "w") as lease_file:
      json.dump(self._content(extra), lease_file)
      lease_file.flush()
      os.fsync(lease_file.fileno())
    return True

  def acquire(self, **extra: Any) -> bool:
    """Takes the lease if it is free or stale; False when another live process holds it."""
    if self._create(extra):
      self.held = True
      return True
    info, mtime = read(self.path)
    if info is None:
      self.held = self._create(extra)
      return self.held
    if not is_stale(info, mtime, self.stale_seconds):
      return False
    marker = self.path.with_name(f"{layout.LEASE_FILE}.takeover")
    try:
      os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
      self._expire(marker)
      return False
    try:
      current, current_mtime = read(self.path)
      if current != info or current_mtime is None or not is_stale(
          current, current_mtime, self.stale_seconds):
        return False  # renewed or taken over since we read it
      atomic.write_json_atomic(self.path, self._content(extra))
      self.held = True
      return True
    finally:
      os.unlink(marker)

  def _expire(self, marker: pathlib.Path) -> None:
    """Removes a takeover marker older than `stale_seconds` (its contender died)."""
    try:
      if time.time() - os.stat(marker).st_mtime > self.stale_seconds:
        os.unlink(marker)
    except FileNotFoundError:
      pass

  def heartbeat(self) -> bool:
    """Refreshes the lease's mtime; False (and no longer held) when another owner has it."""
    if not self.held:
      return False
    info, _ = read(self.path)
    if not info or info.get("owner") != self.owner:
      self.held = False
      return False
    os.utime(self.path)
    return True

  def update(self, **extra: Any) -> None:
    """Adds fields (e.g. the trainer's pid) to a held lease, atomically."""
    info, _ = read(self.path)
    if not info or info.get("owner") != self.owner:
      self.held = False
      return
    info.update(extra)
    temporary = self.path.with_name(f"{layout.LEASE_FILE}.tmp-{self.owner}")
    temporary.write_text(json.dumps(info))
    os.replace(temporary, self.path)

  def release(self) -> None:
    """Deletes the lease file if this process still holds it."""
    if self.held:
      info, _ = read(self.path)
      if info and info.get("owner") == self.owner:
        self.path.unlink(missing_ok=True)
    self.held = False
