"""Checkpoints of a run: parameters, optimizer state, data-iterator position and loop state.

A thin layer over orbax's `CheckpointManager`: saves are asynchronous and atomic (a save killed
half-way leaves a tmp directory that the next start removes), the last `keep` are kept, and
restoring uses the freshly initialized arrays as the target so shardings are preserved.
"""
import pathlib
from typing import Any

import jax
import orbax.checkpoint as ocp

_ITEMS = ("params", "opt_state", "data", "loop")


class Checkpointer:
  """Saves and restores {params, opt_state, data (iterator state), loop (JSON)} by step."""

  def __init__(self, directory: str | pathlib.Path, keep: int):
    if keep < 1:
      raise ValueError(f"config.train.keep_checkpoints={keep} must be at least 1")
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, cleanup_tmp_directories=True, enable_async_checkpointing=True,
        create=True)
    self._manager = ocp.CheckpointManager(
        pathlib.Path(directory).absolute(), options=options, item_names=_ITEMS)

  def latest_step(self) -> int | None:
    """The step of the newest complete checkpoint, or None."""
    return self._manager.latest_step()

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

  def wait_until_finished(self) -> None:
    """Blocks until the pending asynchronous save is on disk."""
    self._manager.wait_until_finished()

  def close(self) -> None:
    """Waits for pending saves and releases the manager."""
    self._manager.close()
