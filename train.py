"""Trains and evaluates one language model run.

  python train.py --config=configs/tiny.py --workdir=/tmp/r [--config.train.batch_size=32 ...]

The config file defines `get_config(arg)` (see configs/base.py for every field); `:arg` after the
file name selects a variant. Relaunching with the same workdir resumes from its newest intact
checkpoint; a workdir holding a different config is refused. A workdir that does not exist is
created.

Exit codes (result.json is written last, atomically, and is the only 'done' signal). Every error
is one line on stderr, `error: ...`, naming the bad field or file and the fix:
  0   completed: result.json has status "completed".
  1   failed: the run started and then failed; result.json has status "failed", the one-line
      error and its traceback.
  2   refused: bad flags, config, data or workdir, or no intact checkpoint to resume from
      (relaunching cannot help); result.json has status "failed" and the error where the
      workdir is usable.
  3   diverged: non-finite train loss; result.json has status "diverged" and diverged_step.
  75  preempted (SIGTERM): a checkpoint was saved, no result.json; relaunch to resume.

One run over several processes (hosts): start the same command in every process with
JAX_COORDINATOR_ADDRESS=HOST:PORT (process 0's), JAX_NUM_PROCESSES and JAX_PROCESS_ID (TPU pod
slices, Slurm and Open MPI need none of them). Each process reads its share of every batch,
all write the checkpoints together, process 0 writes the other files, and all end with the
same exit code (a SIGTERM to any of them stops all at the same step, with a checkpoint). When a
process dies the others stop within about --peer_timeout_seconds, failed (exit 1, or an abort
when jax's coordination service ends them); relaunching all of them resumes from the last
checkpoint.
"""
import logging as std_logging
import os
import pathlib
import sys
import traceback
from typing import NoReturn, Sequence

import jax
import ml_collections
from absl import flags, logging
from ml_collections import config_flags

from configs import schema
from records import cli
from records import layout
from records import status as status_lib
from training import compilation, loop, preemption, results, validate
from training import mesh as mesh_lib

_CONFIG = config_flags.DEFINE_config_file("config", None, "Run config file (configs/*.py).",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics, results.")
_PEER_TIMEOUT = flags.DEFINE_integer(
    "peer_timeout_seconds", mesh_lib.PEER_TIMEOUT_SECONDS,
    "multi-process runs: a process silent this long is dead, and the others stop (seconds)")

_EXIT_CODES = {status_lib.RunStatus.COMPLETED: preemption.EXIT_COMPLETED,
               status_lib.RunStatus.DIVERGED: preemption.EXIT_DIVERGED,
               results.STATUS_PREEMPTED: preemption.EXIT_PREEMPTED}


_CHATTY_LIBRARIES = ("/orbax/", "/jax/_src/xla_bridge")  # per-save and backend-probing INFO


def _quiet_libraries(record: std_logging.LogRecord) -> bool:
  """Keeps the INFO chatter of orbax and of jax's backend probing out of the console; their
  warnings still show."""
  return (record.levelno >= std_logging.WARNING
          or not any(library in record.pathname for library in _CHATTY_LIBRARIES))


def _unknown_override(argv: list[str]) -> str | None:
  """The first `--config.a.b=...` flag naming a key that configs/base.py does not have."""
  for argument in argv:
    if argument.startswith("--config."):
      path = argument[len("--config."):].split("=", 1)[0].split(".")
      nested = {key: {} for key in path[-1:]}
      for key in reversed(path[:-1]):
        nested = {key: nested}
      if schema.RUN.unknown_keys(nested):
        return ".".join(path)
  return None


def _parse_flags(argv: Sequence[str]) -> list[str]:
  """absl flag parsing with one-line errors and exit code 2 (an unknown --config.* key names
  itself)."""
  try:
    return flags.FLAGS(list(argv))
  except (flags.Error, AttributeError, KeyError, TypeError, ValueError) as error:
    unknown = _unknown_override(argv)
    if unknown:
      cli.exit_on_error(cli.UsageError(f"unknown config key {unknown} in --config.{unknown}; "
                                       f"see configs/base.py for the keys"))
    cli.exit_on_error(cli.UsageError(_flag_error(error)))


def _flag_error(error: Exception) -> str:
  """One line for a flag error. config_flags puts the traceback of a config file's get_config in
  its message; the last line of it is the error."""
  lines = [line.strip() for line in str(error).splitlines() if line.strip()]
  if any(line.startswith("Traceback (most recent call last)") for line in lines):
    return f"--config: {lines[-1]}"
  return f"invalid flags: {cli.one_line(error)}"


def _load_config() -> ml_collections.ConfigDict:
  """The --config run config; raises UsageError for a config file that failed to load."""
  config = _CONFIG.value
  try:
    config.get("seed")  # config_flags defers a load failure to the first access (an IOError)
  except OSError as error:
    raise cli.UsageError(f"--config: {cli.one_line(error.__cause__ or error)}") from None
  return config


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


def main(argv: list[str]) -> int:
  """Trains the run of --config in --workdir; returns the exit code (see the module docstring)."""
  if len(argv) > 1:
    raise cli.UsageError(f"unexpected arguments {argv[1:]}; give config fields as "
                         f"--config.a.b=value")
  if not _WORKDIR.value:
    raise cli.UsageError("--workdir is empty; name the run's directory")
  logging.get_absl_handler().addFilter(_quiet_libraries)
  compilation.enable(compilation.CACHE_DIR.value, min_compile_seconds=0.0)
  mesh_lib.maybe_initialize_distributed(_PEER_TIMEOUT.value)
  config, workdir = _load_config(), _WORKDIR.value
  try:
    result = loop.train_and_evaluate(config, workdir)
  except Exception as error:  # pylint: disable=broad-except
    code = _fail(config, workdir, error)
    if jax.process_count() > 1:
      _exit_now(code)
    return code
  return _EXIT_CODES[result["status"]]


def _exit_now(code: int) -> NoReturn:
  """Ends a failed process of a multi-process run at once, with `code`: jax's exit-time
  shutdown barrier would wait for peers that may be dead (the peer timeout), then abort."""
  logging.flush()
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(code)  # pylint: disable=protected-access


if __name__ == "__main__":
  flags.mark_flags_as_required(["config", "workdir"])
  cli.run(main, flags_parser=_parse_flags)
