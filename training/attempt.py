"""One training attempt on a workdir: `train_workdir(config, workdir) -> exit code`.

The body of train.py after its flags are parsed, so that train.py and a long-lived worker
process (`scaling.worker`) train a run the same way: it trains (`loop.train_and_evaluate`),
records a failure in result.json, and returns train.py's exit code (see train.py's docstring):
0 completed, 1 failed, 2 refused (`validate.ConfigError`), 3 diverged, 75 preempted.
"""
import logging as std_logging
import os
import pathlib
import sys
import traceback
from typing import NoReturn

import jax
import ml_collections
from absl import logging

from configs import schema
from records import cli
from records import layout
from records import status as status_lib
from training import loop, preemption, results, validate

EXIT_CODES = {status_lib.RunStatus.COMPLETED: preemption.EXIT_COMPLETED,
              status_lib.RunStatus.DIVERGED: preemption.EXIT_DIVERGED,
              results.STATUS_PREEMPTED: preemption.EXIT_PREEMPTED}

_CHATTY_LIBRARIES = ("/orbax/", "/jax/_src/xla_bridge")  # per-save and backend-probing INFO


def quiet_libraries(record: std_logging.LogRecord) -> bool:
  """A logging filter that keeps the INFO chatter of orbax and of jax's backend probing out of
  the console; their warnings still show."""
  return (record.levelno >= std_logging.WARNING
          or not any(library in record.pathname for library in _CHATTY_LIBRARIES))


def train_workdir(config: ml_collections.ConfigDict, workdir: str | pathlib.Path, *,
                  preemption_request: preemption.Preemption | None = None) -> int:
  """Trains the run of `config` in `workdir` (resuming from its checkpoints); returns the exit
  code. A failure is written to result.json (with its traceback, unless the run was refused)
  and said in one `error: ...` line on stderr; it is never raised. `preemption_request` (default:
  SIGTERM only) asks the run to checkpoint and stop."""
  try:
    result = loop.train_and_evaluate(config, workdir, preemption=preemption_request)
  except Exception as error:  # pylint: disable=broad-except
    code = _fail(config, str(workdir), error)
    if jax.process_count() > 1:
      _exit_now(code)
    return code
  return EXIT_CODES[result["status"]]


def _fail(config: ml_collections.ConfigDict, workdir: str, error: Exception) -> int:
  """Records `error` in result.json, prints it as one line on stderr; returns the exit code.

  A ConfigError (bad config, data or workdir) exits EXIT_USAGE; anything else is a run failure
  (EXIT_FAILED) whose traceback goes to result.json rather than the console. A result.json
  that cannot be written is said on the same line.
  """
  refused = isinstance(error, validate.ConfigError)
  message = cli.one_line(error) if refused else f"{type(error).__name__}: {cli.one_line(error)}"
  line = message if refused else f"run failed: {message}"
  # A WorkdirError leaves nothing writable; in a multi-process run process 0 writes.
  if not isinstance(error, validate.WorkdirError) and jax.process_index() == 0:
    trace = None if refused else "".join(traceback.format_exception(error))
    result_path = pathlib.Path(workdir) / layout.RESULT_FILE
    try:
      written = results.write_failure(workdir, schema.config_to_dict(config), message, trace)
    except OSError as write_error:
      line += f"; {result_path} could not be written: {cli.describe_os_error(write_error)}"
    else:
      if written and trace is not None:
        line += f" (traceback in {result_path})"
  sys.stderr.write(f"error: {line}\n")
  return cli.EXIT_USAGE if refused else cli.EXIT_FAILED


def _exit_now(code: int) -> NoReturn:
  """Ends a failed process of a multi-process run at once, with `code`: jax's exit-time
  shutdown barrier would wait for peers that may be dead (the peer timeout), then abort."""
  logging.flush()
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(code)  # pylint: disable=protected-access
