"""The spool folder between runners and a training worker (`scaling.worker`), and the attempt
of a run handed to a worker (`WorkerAttempt`, a `gang.Gang`).

Conventions: every file in the spool is JSON written atomically (a temporary beside it, then
`os.replace`), so a reader sees a whole file or none. A runner asks for one attempt with
`ID.request.json` ({"id", "run_dir", "runner_pid"}); the worker takes the oldest request
(deleting it), trains the run, and answers with `ID.reply.json` ({"exit_code": train.py's exit
code}), which the runner deletes once read. A worker serves one request at a time.
This module imports neither jax nor the model (the runner imports it).
"""
import os
import pathlib
import signal
import time
import uuid
from typing import Any

from records import atomic
from records import cli
from records import layout

REQUEST_SUFFIX = ".request.json"
REPLY_SUFFIX = ".reply.json"
WORKER_LOG = "worker.log"  # the worker's own output, in its spool folder
_POLL_SECONDS = 0.05


def send_request(spool: pathlib.Path, run_dir: pathlib.Path, runner_pid: int) -> str:
  """Asks the worker of `spool` to train `run_dir` once; returns the request's id."""
  request_id = uuid.uuid4().hex
  atomic.write_json_atomic(pathlib.Path(spool) / f"{request_id}{REQUEST_SUFFIX}", dict(
      id=request_id, run_dir=str(pathlib.Path(run_dir).resolve()), runner_pid=runner_pid))
  return request_id


def take_request(spool: pathlib.Path) -> dict[str, Any] | None:
  """The oldest request in `spool`, removed from it; None when there is none."""
  requests = sorted(pathlib.Path(spool).glob(f"*{REQUEST_SUFFIX}"),
                    key=lambda path: path.stat().st_mtime)
  if not requests:
    return None
  request = atomic.read_json(requests[0])
  requests[0].unlink()
  return request


def send_reply(spool: pathlib.Path, request_id: str, exit_code: int) -> None:
  """Answers request `request_id` with the attempt's train.py exit code."""
  atomic.write_json_atomic(pathlib.Path(spool) / f"{request_id}{REPLY_SUFFIX}",
                           dict(exit_code=exit_code))


def take_reply(spool: pathlib.Path, request_id: str) -> int | None:
  """The exit code answering `request_id` (its reply removed); None while there is none."""
  path = pathlib.Path(spool) / f"{request_id}{REPLY_SUFFIX}"
  reply = atomic.read_json(path)
  if reply is None:
    return None
  path.unlink()
  return int(reply["exit_code"])


class WorkerAttempt:
  """One attempt of a run, trained by the worker process `pid` that serves `spool` (the
  `gang.Gang` of a run handed to a worker). A worker that ends without replying (killed,
  crashed) fails the attempt with EXIT_FAILED, said in the run's train.log."""

  def __init__(self, spool: pathlib.Path, pid: int, run_dir: pathlib.Path):
    self.spool, self.pid, self.run_dir = pathlib.Path(spool), pid, pathlib.Path(run_dir)
    self._request_id = send_request(self.spool, self.run_dir, os.getpid())

  def wait(self, timeout: float) -> int | None:
    """The attempt's train.py exit code once the worker replied (or died); None after
    `timeout` seconds otherwise."""
    deadline = time.monotonic() + timeout
    while True:
      exit_code = take_reply(self.spool, self._request_id)
      if exit_code is not None:
        return exit_code
      if not atomic.process_alive(self.pid):
        exit_code = take_reply(self.spool, self._request_id)  # replied, then ended
        if exit_code is not None:
          return exit_code
        with open(self.run_dir / layout.TRAIN_LOG, "a", encoding="utf-8") as log:
          log.write(f"error: training worker {self.pid} ended without a reply (killed or "
                    f"crashed)\n")
        return cli.EXIT_FAILED
      now = time.monotonic()
      if now >= deadline:
        return None
      time.sleep(min(_POLL_SECONDS, deadline - now))

  def terminate(self) -> None:
    """SIGTERM to the worker: the run saves a checkpoint and stops, then the worker ends."""
    self._signal(signal.SIGTERM)

  def kill(self) -> None:
    """SIGKILL to the worker (its run stops at once, as a killed train.py does)."""
    self._signal(signal.SIGKILL)

  def _signal(self, signum: int) -> None:
    try:
      os.kill(self.pid, signum)
    except ProcessLookupError:
      pass
