"""The jitted programs of this process, kept for the next run of the same shape.

A new `Trainer` builds new jitted train and eval steps (closures over the model's graph, its
constants and the optimizer), so each run in a process would trace and lower them again (the
persistent compilation cache saves only the compilation). A process that trains several runs
(`scaling.worker`) reuses them through the bounded LRU caches here, keyed by everything that
decides the program: the run config less the fields that only the loop, the data or the
records read (`PROGRAM_FREE_FIELDS`), and the mesh's axes and devices. A reused program is the
same executable, so results are unchanged.
"""
import collections
import json
from typing import Any, Callable

import jax
import ml_collections

from configs import schema

MAX_PROGRAMS = 8
# Config fields no jitted step reads (top-level sections, or 'section.field'). The schedule's
# fields are among them: the learning rate is an input of the train step, so a trunk and its
# branches, or runs of one shape with other budgets or peaks, share one program.
PROGRAM_FREE_FIELDS = frozenset((
    "seed", "data", "logging", "train.eval_every_tokens", "train.eval_tokens",
    "train.ckpt_every_tokens", "train.keep_checkpoints", "train.branch_point_tokens",
    "train.branch_from", "train.log_every_steps", "train.steps_per_call", "train.train_tokens",
    "train.warmup_tokens", "optimizer.peak_learning_rate", "optimizer.schedule",
    "optimizer.final_lr_fraction", "optimizer.decay_fraction", "optimizer.decay_shape"))
# The eval step reads only the model and its sharding.
_EVAL_FIELDS = ("model", "logical_axis_rules")


class ProgramCache:
  """At most `max_entries` programs by key, least recently used evicted first; counts its
  `hits` and `misses`."""

  def __init__(self, max_entries: int = MAX_PROGRAMS):
    if max_entries < 1:
      raise ValueError(f"max_entries={max_entries} must be at least 1")
    self.max_entries = max_entries
    self.hits = self.misses = 0
    self._programs: collections.OrderedDict[str, Any] = collections.OrderedDict()

  def __len__(self) -> int:
    return len(self._programs)

  def get(self, key: str, build: Callable[[], Any]) -> Any:
    """The program cached under `key`, else `build()`'s, cached."""
    if key in self._programs:
      self.hits += 1
      self._programs.move_to_end(key)
      return self._programs[key]
    self.misses += 1
    program = self._programs[key] = build()
    if len(self._programs) > self.max_entries:
      self._programs.popitem(last=False)
    return program

  def clear(self) -> None:
    """Drops every program and resets the counts."""
    self._programs.clear()
    self.hits = self.misses = 0


INITS = ProgramCache()
TRAIN_STEPS = ProgramCache()
EVAL_STEPS = ProgramCache()


def _mesh_key(mesh: jax.sharding.Mesh) -> dict[str, Any]:
  return {"axes": dict(mesh.shape), "devices": [device.id for device in mesh.devices.flat],
          "platform": mesh.devices.flat[0].platform}


def _key(config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh, **program: Any) -> str:
  """A program's key: `config`'s program fields, `mesh` and what names the program."""
  return json.dumps({"config": program_fields(schema.config_to_dict(config)),
                     "mesh": _mesh_key(mesh), **program}, sort_keys=True, default=str)


def train_step_key(config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh,
                   stacked: bool = False) -> str:
  """The key of the train step of `config` on `mesh` (a JSON string); `stacked`: the program
  that takes a stack of batches (`step.make_train_step`; its jit compiles once per stack
  length, so `train.steps_per_call` is not part of the key)."""
  return _key(config, mesh, stacked=stacked)


def program_fields(resolved: dict[str, Any]) -> dict[str, Any]:
  """The sections and fields of a resolved run config (a config.json's dict) that the train step
  reads: two runs whose program fields are equal train with the same programs on one mesh."""
  return {section: ({name: value for name, value in fields.items()
                     if f"{section}.{name}" not in PROGRAM_FREE_FIELDS}
                    if isinstance(fields, dict) else fields)
          for section, fields in resolved.items() if section not in PROGRAM_FREE_FIELDS}


def init_key(config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh) -> str:
  """The key of the initialization of `config`'s parameters and optimizer state on `mesh`
  (`training.state.InitProgram`; the seed is its argument, so not part of the key)."""
  return _key(config, mesh, init=True)


def eval_step_key(config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh) -> str:
  """The key of the eval step of `config` on `mesh` (a JSON string)."""
  resolved = schema.config_to_dict(config)
  kept = {section: resolved[section] for section in _EVAL_FIELDS}
  return json.dumps({"config": kept, "mesh": _mesh_key(mesh)}, sort_keys=True, default=str)
