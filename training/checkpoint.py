"""Checkpoints of a run: parameters, optimizer state, data-iterator position and loop state.

A thin layer over orbax's `CheckpointManager`: saves are asynchronous and atomic (a save killed
half-way leaves a tmp directory that the next start removes), the last `keep` are kept, and
restoring uses the freshly initialized arrays as the target so shardings are preserved.
`restore_latest` falls back past unreadable (corrupt) checkpoints to the newest intact one.

Multi-process runs write one checkpoint together: every process writes its shards of the
arrays, process 0 the loop state, and each process its own data-iterator position
(`data/process_I-of-N.json`, I = jax.process_index(), as grain's own orbax handler names it),
which it alone reads back. A single process keeps the data position in `data/metadata`.
"""
import pathlib
from typing import Any

import jax
import orbax.checkpoint as ocp
from absl import logging

from records import cli

_ITEMS = ("params", "opt_state", "data", "loop")
_REASON_CHARS = 300  # a TensorStore error can hold a 2 KB spec; the log keeps its start


class CorruptCheckpointError(ValueError):
  """No checkpoint of the run can be restored; the message names the directory and the fix."""


def _reason(error: BaseException) -> str:
  """Why a restore failed, on one line: the innermost cause (orbax wraps the TensorStore error)."""
  while error.__cause__ is not None:
    error = error.__cause__
  reason = f"{type(error).__name__}: {cli.one_line(error)}"
  return reason if len(reason) <= _REASON_CHARS else reason[:_REASON_CHARS] + "..."


def _item_handlers() -> dict[str, ocp.CheckpointHandler]:
  """Orbax handlers of the items: the data position is written by every process, to its own
  file (see the module docstring)."""
  index, count = jax.process_index(), jax.process_count()
  data = (ocp.JsonCheckpointHandler() if count == 1 else ocp.JsonCheckpointHandler(
      f"process_{index}-of-{count}.json",
      multiprocessing_options=ocp.options.MultiprocessingOptions(primary_host=None)))
  return {"params": ocp.StandardCheckpointHandler(), "opt_state": ocp.StandardCheckpointHandler(),
          "data": data, "loop": ocp.JsonCheckpointHandler()}


class Checkpointer:
  """Saves and restores {params, opt_state, data (iterator state), loop (JSON)} by step."""

  def __init__(self, directory: str | pathlib.Path, keep: int | None, *,
               read_only: bool = False):
    """`keep`: how many of the newest checkpoints to keep (None: all). `read_only`: only
    restore, from a directory another process may be writing (its temporaries are left)."""
    if keep is not None and keep < 1:
      raise ValueError(f"config.train.keep_checkpoints={keep} must be at least 1")
    options = ocp.CheckpointManagerOptions(
        max_to_keep=None if read_only else keep, cleanup_tmp_directories=not read_only,
        enable_async_checkpointing=True, create=not read_only, read_only=read_only,
        save_interval_steps=0 if read_only else 1)
    self._directory = pathlib.Path(directory).absolute()
    self._manager = ocp.CheckpointManager(self._directory, options=options, item_names=_ITEMS,
                                          item_handlers=_item_handlers())

  def save(self, step: int, params: Any, opt_state: Any, data_state: dict[str, Any],
           loop_state: dict[str, Any]) -> None:
    """Starts an asynchronous save of everything needed to resume after `step` updates."""
    self._manager.save(step, args=ocp.args.Composite(
        params=ocp.args.StandardSave(params),
        opt_state=ocp.args.StandardSave(opt_state),
        data=ocp.args.JsonSave(data_state),
        loop=ocp.args.JsonSave(loop_state),
    ), force=True)

  def restore(self, step: int, params_target: Any, opt_state_target: Any
              ) -> tuple[Any, Any, dict[str, Any], dict[str, Any]]:
    """Restores (params, opt_state, data_state, loop_state) saved at `step`.

    The targets give the tree structure, dtypes and shardings (arrays or ShapeDtypeStructs).
    """
    abstract = lambda tree: jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)
    restored = self._manager.restore(step, args=ocp.args.Composite(
        params=ocp.args.StandardRestore(abstract(params_target)),
        opt_state=ocp.args.StandardRestore(abstract(opt_state_target)),
        data=ocp.args.JsonRestore(),
        loop=ocp.args.JsonRestore(),
    ))
    return restored.params, restored.opt_state, restored.data, restored.loop

  def restore_latest(self, params_target: Any, opt_state_target: Any
                     ) -> tuple[int, Any, Any, dict[str, Any], dict[str, Any]] | None:
    """Restores the newest intact checkpoint: (step, params, opt_state, data_state, loop_state).

    Returns None when there is no checkpoint. A newer checkpoint that fails to restore is
    logged (its step and why), and deleted once an older one restores, so the run saves that
    step afresh. Raises CorruptCheckpointError when none restores. Targets as in `restore`.
    """
    unreadable = {}  # step -> why it failed to restore, newest first
    for step in sorted(self._manager.all_steps(), reverse=True):
      try:
        restored = self.restore(step, params_target, opt_state_target)
      except Exception as error:  # pylint: disable=broad-except
        # Corruption surfaces as whatever the failing reader raises (ValueError, OSError,
        # JSONDecodeError, TensorStore's bare Exception).
        unreadable[step] = _reason(error)
        logging.warning("checkpoint at step %d in %s cannot be restored (%s)", step,
                        self._directory, unreadable[step])
        continue
      for bad_step in unreadable:
        self._manager.delete(bad_step)
      if unreadable:
        logging.warning("deleted the unreadable checkpoint(s) at step(s) %s; resuming from the "
                        "intact one at step %d", ", ".join(map(str, unreadable)), step)
      return (step, *restored)
    if unreadable:
      newest, reason = next(iter(unreadable.items()))
      raise CorruptCheckpointError(
          f"no checkpoint in {self._directory} can be restored (step {newest}: {reason}); "
          f"delete {self._directory} to restart the run from step 0")
    return None

  def steps(self) -> list[int]:
    """The steps of the finished checkpoints, ascending."""
    return sorted(self._manager.all_steps())

  def wait_until_finished(self) -> None:
    """Blocks until the pending asynchronous save is on disk."""
    self._manager.wait_until_finished()

  def close(self) -> None:
    """Waits for pending saves and releases the manager."""
    self._manager.close()
