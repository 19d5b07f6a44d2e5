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
from typing import Sequence

import ml_collections
from absl import flags, logging
from ml_collections import config_flags

from configs import schema
from records import cli
from training import attempt, compilation
from training import mesh as mesh_lib

_CONFIG = config_flags.DEFINE_config_file("config", None, "Run config file (configs/*.py).",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics, results.")
_PEER_TIMEOUT = flags.DEFINE_integer(
    "peer_timeout_seconds", mesh_lib.PEER_TIMEOUT_SECONDS,
    "multi-process runs: a process silent this long is dead, and the others stop (seconds)")


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


def main(argv: list[str]) -> int:
  """Trains the run of --config in --workdir; returns the exit code (see the module docstring)."""
  if len(argv) > 1:
    raise cli.UsageError(f"unexpected arguments {argv[1:]}; give config fields as "
                         f"--config.a.b=value")
  if not _WORKDIR.value:
    raise cli.UsageError("--workdir is empty; name the run's directory")
  logging.get_absl_handler().addFilter(attempt.quiet_libraries)
  compilation.enable(compilation.CACHE_DIR.value, min_compile_seconds=0.0)
  mesh_lib.maybe_initialize_distributed(_PEER_TIMEOUT.value)
  return attempt.train_workdir(_load_config(), _WORKDIR.value)


if __name__ == "__main__":
  flags.mark_flags_as_required(["config", "workdir"])
  cli.run(main, flags_parser=_parse_flags)
