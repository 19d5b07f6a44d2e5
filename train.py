"""Trains and evaluates one language model run.

  python train.py --config=configs/tiny.py --workdir=/tmp/r [--config.train.batch_size=32 ...]

The config file defines `get_config(arg)` (see configs/base.py for every field); `:arg` after the
file name selects a variant. Relaunching with the same workdir resumes from its newest
checkpoint; a workdir holding a different config is refused.

Exit codes (result.json is written last, atomically, and is the only 'done' signal):
  0   completed: result.json has status "completed".
  1   failed: result.json has status "failed" and the error (a bad config is one log line).
  3   diverged: non-finite train loss; result.json has status "diverged" and diverged_step.
  75  preempted (SIGTERM): a checkpoint was saved, no result.json; relaunch to resume.
"""
import logging as std_logging
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from training import loop, preemption, results, run_config, validate
from training import mesh as mesh_lib

_CONFIG = config_flags.DEFINE_config_file("config", None, "Run config file (configs/*.py).",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics, results.")

_EXIT_CODES = {results.STATUS_COMPLETED: preemption.EXIT_COMPLETED,
               results.STATUS_DIVERGED: preemption.EXIT_DIVERGED,
               results.STATUS_PREEMPTED: preemption.EXIT_PREEMPTED}


def _quiet_checkpointing(record: std_logging.LogRecord) -> bool:
  """Keeps orbax's per-save INFO chatter out of the console; its warnings still show."""
  return record.levelno >= std_logging.WARNING or "/orbax/" not in record.pathname


def _unknown_override(argv: list[str]) -> str | None:
  """The first `--config.a.b=...` flag naming a key that configs/base.py does not have."""
  for argument in argv:
    if argument.startswith("--config."):
      path = argument[len("--config."):].split("=", 1)[0].split(".")
      nested = {key: {} for key in path[-1:]}
      for key in reversed(path[:-1]):
        nested = {key: nested}
      if run_config.unknown_keys(nested):
        return ".".join(path)
  return None


def _parse_flags(argv: list[str]) -> list[str]:
  """absl flag parsing with one-line errors (an unknown --config.* key names itself)."""
  try:
    return flags.FLAGS(argv)
  except (flags.Error, AttributeError, KeyError, TypeError, ValueError) as error:
    unknown = _unknown_override(argv)
    if unknown:
      sys.exit(f"unknown config key {unknown} in --config.{unknown}; "
               f"see configs/base.py for the keys")
    sys.exit(f"invalid flags: {error}")


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.get_absl_handler().addFilter(_quiet_checkpointing)
  mesh_lib.maybe_initialize_distributed()
  config, workdir = _CONFIG.value, _WORKDIR.value
  try:
    result = loop.train_and_evaluate(config, workdir)
  except validate.ConfigError as error:
    logging.error("invalid config: %s", error)
    results.write_failure(workdir, run_config.config_to_dict(config), str(error))
    sys.exit(preemption.EXIT_FAILED)
  except Exception as error:  # pylint: disable=broad-except
    logging.exception("run failed")
    results.write_failure(workdir, run_config.config_to_dict(config),
                          f"{type(error).__name__}: {error}")
    sys.exit(preemption.EXIT_FAILED)
  sys.exit(_EXIT_CODES[result["status"]])


if __name__ == "__main__":
  flags.mark_flags_as_required(["config", "workdir"])
  app.run(main, flags_parser=_parse_flags)
