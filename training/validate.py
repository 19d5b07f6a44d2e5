"""Run-config validation before anything compiles: each failure is one line naming the field.

All errors are `ConfigError`s (a `ValueError`) whose one-line message names the config field
and the fix; `WorkdirError`, a `ConfigError`, is a workdir that cannot be created or written.
"""
import contextlib
import json
import math
import pathlib
from typing import Any, Callable, Iterator, TypeVar

import ml_collections

from configs import base
from configs import schema
from data import pipeline
from model import ModelConfig
from records import cli
from records import layout
from training import branch
from training import budget as budget_lib
from training import mesh as mesh_lib
from training import optimizer as optimizer_lib
from training import wandb_sink


Result = TypeVar("Result")


class ConfigError(ValueError):
  """An invalid run config or workdir; the message is one line naming the field and the fix."""


class WorkdirError(ConfigError):
  """A workdir that cannot be created, read or written (nothing can be recorded in it)."""


# The data fields that name a corpus's files or tokenizer, by the corpus (or tokenizer) that
# reads them; the other corpora ignore them. Every corpus reads the split, cache and loader
# fields. The synthetic_* fields are not checked: presets derive a text variant from a
# synthetic one and keep them (configs/tiny.py:text).
_FIELDS_READ_BY_CORPUS = {
    "stdlib": ("tokenizer",),
    "files": ("path", "text_field", "skip_unreadable_input", "tokenizer"),
    "tokens": ("path", "token_dtype", "tokenizer_vocab_size"),
    "synthetic": (),
}
_FIELDS_READ_BY_TOKENIZER = {"byte": (), "sentencepiece": ("tokenizer_vocab_size",
                                                           "tokenizer_model"),
                             "bpe": ("tokenizer_vocab_size",)}
_CORPUS_SPECIFIC_FIELDS = ("path", "text_field", "skip_unreadable_input", "token_dtype",
                           "tokenizer", "tokenizer_vocab_size", "tokenizer_model")
_DATA_DEFAULTS = base.get_config().data.to_dict()  # read only


class SharedSections:
  """The results of the checks that read one section of a run config (a top-level field, or the
  value of one), kept by the section object: configs that share a section object (the run
  configs of a sweep: scaling.grid.RunConfigs) have it checked once. One per batch of
  validations, while the configs are unchanged; a fresh one checks every section."""

  def __init__(self):
    self._results: dict[tuple[Any, ...], tuple[Any, Any, Exception | None]] = {}

  def once(self, check: Callable[..., Result], section: Any, *args: Any) -> Result:
    """`check(section, *args)`: its value, or its ValueError or OSError raised again."""
    key = (check, id(section), *args)
    if key not in self._results:
      try:
        self._results[key] = (section, check(section, *args), None)  # holds the section's id
      except (ValueError, OSError) as error:
        self._results[key] = (section, None, error)
    _, value, error = self._results[key]
    if error is not None:
      raise error
    return value


def check_schema(config: ml_collections.ConfigDict, shared: SharedSections | None = None) -> None:
  """Rejects keys the base schema (configs/base.py) does not have."""
  shared = shared or SharedSections()
  schema.RUN.refuse([name for key, value in config.items()
                     for name in shared.once(schema.RUN.unknown_in, value, key)])


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
  if optimizer_config.decay_shape not in optimizer_lib.DECAY_SHAPES:
    raise ValueError(
        f"config.optimizer.decay_shape={optimizer_config.decay_shape!r} is unknown; use one of "
        f"{', '.join(optimizer_lib.DECAY_SHAPES)}")


def _readers(field: str) -> str:
  """The settings under which `field` is read, e.g. "data.corpus='files' or 'tokens'"."""
  corpora = [repr(name) for name, read in _FIELDS_READ_BY_CORPUS.items() if field in read]
  tokenizers = [repr(name) for name, read in _FIELDS_READ_BY_TOKENIZER.items() if field in read]
  settings = []
  if corpora:
    settings.append(f"data.corpus={' or '.join(corpora)}")
  if tokenizers:
    settings.append(f"data.tokenizer={' or '.join(tokenizers)}")
  return " or ".join(settings)


def check_data_fields(data_config: ml_collections.ConfigDict) -> None:
  """Rejects a non-default value of a data field that the chosen corpus (or tokenizer) ignores.

  Such a value would change nothing but the config hash (the run's identity), and usually means
  the corpus was not the intended one. An unknown corpus or tokenizer is left to data/.
  """
  read = _FIELDS_READ_BY_CORPUS.get(data_config.corpus)
  if read is None:
    return
  if "tokenizer" in read:
    read = read + _FIELDS_READ_BY_TOKENIZER.get(data_config.tokenizer, ())
  defaults = _DATA_DEFAULTS
  for field in _CORPUS_SPECIFIC_FIELDS:
    value = data_config[field]
    if field not in read and value != defaults[field]:
      used_with = f"data.corpus={data_config.corpus!r}"
      if "tokenizer" in read:
        used_with += f" and data.tokenizer={data_config.tokenizer!r}"
      raise ValueError(
          f"config.data.{field}={value!r} is ignored with {used_with}; remove it (or set it to "
          f"{defaults[field]!r}), or use {_readers(field)}, which reads it")


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
        f"processes (each reads a whole number of sequences); use a multiple of "
        f"{process_count}")
  if budget.micro_batch_size % process_count:
    raise ValueError(
        f"config.train.batch_size / grad_accum_steps = {budget.micro_batch_size} is not "
        f"divisible by the {process_count} processes (each reads a whole number of sequences "
        f"per micro-batch); lower config.train.grad_accum_steps")


def validate_config(config: ml_collections.ConfigDict, device_count: int,
                    process_count: int = 1, shared: SharedSections | None = None) -> None:
  """Every check that needs no compilation: schema, model shape, budgets, mesh, batch, data.

  Raises ConfigError (the first problem found). Configs validated with the same `shared` have
  the checks of a section object they share made once (the same errors, in the same order).
  """
  with config_errors():
    _validate(config, device_count, process_count, shared or SharedSections())


@contextlib.contextmanager
def config_errors() -> Iterator[None]:
  """Re-raises a ValueError or OSError from the block (a config, data or path problem found by a
  library) as a one-line ConfigError."""
  try:
    yield
  except ConfigError:
    raise
  except (ValueError, OSError) as error:
    raise ConfigError(cli.one_line(error)) from None


@contextlib.contextmanager
def workdir_errors(workdir: str | pathlib.Path) -> Iterator[None]:
  """Re-raises an OSError from the block as a WorkdirError naming `workdir` and the fix."""
  try:
    yield
  except OSError as error:
    named = OSError(error.errno, error.strerror, str(workdir)) if error.errno else error
    raise WorkdirError(f"cannot use --workdir: {cli.describe_os_error(named)}") from None


def _check_model(model_config: ml_collections.ConfigDict) -> None:
  ModelConfig.from_config_dict(model_config).validate()


def _validate(config: ml_collections.ConfigDict, device_count: int, process_count: int,
              shared: SharedSections) -> None:
  check_schema(config, shared)
  shared.once(check_data_fields, config.data)
  wandb_sink.check_mode(config.logging.wandb)
  shared.once(_check_model, config.model)
  shared.once(check_optimizer, config.optimizer)
  budget = budget_lib.compute_budget(config)
  branch.branch_point_steps(config, budget)
  branch.branch_point(config, budget, ".")
  shape = shared.once(mesh_lib.mesh_shape, config.mesh, device_count)
  check_batch(config, shape[0] * shape[1], process_count)
  vocab = shared.once(pipeline.tokenizer_vocab_size, config.data)
  if vocab > config.model.vocab_size:
    raise ValueError(
        f"config.model.vocab_size={config.model.vocab_size} is below the tokenizer's "
        f"vocabulary of {vocab}; set config.model.vocab_size >= {vocab}")


def check_workdir(config: ml_collections.ConfigDict, workdir: str | pathlib.Path) -> bool:
  """Rejects a workdir whose config.json holds a different resolved config.

  Returns whether the workdir already held this run's config (a resume or a rerun).
  """
  path = pathlib.Path(workdir) / layout.CONFIG_FILE
  if not path.exists():
    return False
  try:
    existing = schema.RUN.from_dict(json.loads(path.read_text()))
  except ValueError as error:
    raise ConfigError(f"{path} is not a run config ({cli.one_line(error)}); use a new "
                      f"--workdir, or delete {path} if the workdir is this run's") from None
  if schema.config_hash(existing) != schema.config_hash(config):
    raise ConfigError(
        f"workdir {workdir} holds a different config ({path}, hash "
        f"{schema.config_hash(existing)[:12]}); use a new --workdir or the same config")
  return True
