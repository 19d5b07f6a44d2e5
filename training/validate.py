"""Run-config validation before anything compiles: each failure is one line naming the field.

All errors are `ConfigError`s (a `ValueError`) whose one-line message names the config field
and the fix.
"""
import contextlib
import json
import math
import pathlib
from typing import Iterator

import ml_collections

from data import pipeline
from model import ModelConfig
from training import budget as budget_lib
from training import mesh as mesh_lib
from training import optimizer as optimizer_lib
from training import run_config


class ConfigError(ValueError):
  """An invalid run config or workdir; the message is one line naming the field and the fix."""


def check_schema(config: ml_collections.ConfigDict) -> None:
  """Rejects keys the base schema (configs/base.py) does not have."""
  unknown = run_config.unknown_keys(config)
  if unknown:
    raise ValueError(
        f"unknown config key(s) {', '.join(unknown)}; fix the spelling or add them to "
        f"configs/base.py")


def check_optimizer(optimizer_config: ml_collections.ConfigDict) -> None:
  """Learning rate, schedule and its fractions."""
  if optimizer_config.schedule not in optimizer_lib.SCHEDULES:
    raise ValueError(
        f"config.optimizer.schedule={optimizer_config.schedule!r} is unknown; use one of "
        f"{', '.join(optimizer_lib.SCHEDULES)}")
  peak = optimizer_config.peak_learning_rate
  if not (math.isfinite(peak) and peak > 0):
    raise ValueError(f"config.optimizer.peak_learning_rate={peak} must be positive and finite")
  if not 0 <= optimizer_config.final_lr_fraction <= 1:
    raise ValueError(
        f"config.optimizer.final_lr_fraction={optimizer_config.final_lr_fraction} must be in "
        f"[0, 1]")
  if not 0 <= optimizer_config.decay_fraction <= 1:
    raise ValueError(
        f"config.optimizer.decay_fraction={optimizer_config.decay_fraction} must be in [0, 1]")


def check_batch(config: ml_collections.ConfigDict, data_parallel: int,
                process_count: int) -> None:
  """Batch and micro-batch must split evenly over data x fsdp and over processes."""
  budget = budget_lib.compute_budget(config)
  batch_size = config.train.batch_size
  if batch_size % data_parallel:
    raise ValueError(
        f"config.train.batch_size={batch_size} is not divisible by the data-parallel size "
        f"{data_parallel} (mesh data x fsdp); use a multiple of {data_parallel}")
  if budget.micro_batch_size % data_parallel:
    raise ValueError(
        f"config.train.batch_size / grad_accum_steps = {budget.micro_batch_size} is not "
        f"divisible by the data-parallel size {data_parallel}; lower "
        f"config.train.grad_accum_steps")
  if batch_size % process_count:
    raise ValueError(
        f"config.train.batch_size={batch_size} is not divisible by the {process_count} "
        f"processes; use a multiple of {process_count}")


def validate_config(config: ml_collections.ConfigDict, device_count: int,
                    process_count: int = 1) -> None:
  """Every check that needs no compilation: schema, model shape, budgets, mesh, batch, data.

  Raises ConfigError (the first problem found).
  """
  with config_errors():
    _validate(config, device_count, process_count)


@contextlib.contextmanager
def config_errors() -> Iterator[None]:
  """Re-raises a ValueError from the block (a config problem found by a library) as ConfigError."""
  try:
    yield
  except ConfigError:
    raise
  except ValueError as error:
    raise ConfigError(str(error)) from None


def _validate(config: ml_collections.ConfigDict, device_count: int, process_count: int) -> None:
  check_schema(config)
  ModelConfig.from_config_dict(config.model).validate()
  check_optimizer(config.optimizer)
  budget_lib.compute_budget(config)
  shape = mesh_lib.mesh_shape(config.mesh, device_count)
  check_batch(config, shape[0] * shape[1], process_count)
  vocab = pipeline.tokenizer_vocab_size(config.data)
  if vocab > config.model.vocab_size:
    raise ValueError(
        f"config.model.vocab_size={config.model.vocab_size} is below the tokenizer's "
        f"vocabulary of {vocab}; set config.model.vocab_size >= {vocab}")


def check_workdir(config: ml_collections.ConfigDict, workdir: str | pathlib.Path) -> bool:
  """Rejects a workdir whose config.json holds a different resolved config.

  Returns whether the workdir already held this run's config (a resume or a rerun).
  """
  path = pathlib.Path(workdir) / "config.json"
  if not path.exists():
    return False
  existing = run_config.config_from_dict(json.loads(path.read_text()))
  if run_config.config_hash(existing) != run_config.config_hash(config):
    raise ConfigError(
        f"workdir {workdir} holds a different config ({path}, hash "
        f"{run_config.config_hash(existing)[:12]}); use a new --workdir or the same config")
  return True
