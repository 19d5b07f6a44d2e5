"""Weights & Biases as an optional metrics sink: `config.logging.wandb = off | offline | online`.

When on, the writing process logs every scalar that goes to TensorBoard (same tags, e.g.
`train/loss` in nats/token, at the same optimizer step) to one W&B run, with the resolved config
as the run's config. The run's name is the run id (the workdir's name: a sweep's runs/<id>), its
W&B id is that name plus the config hash's first 8 hex digits (so a relaunch resumes the same W&B
run), and the runs of one sweep share a group named after the sweep directory. Files go under
`WORKDIR/wandb/` (offline runs upload later with `wandb sync WORKDIR/wandb/offline-run-*`).
`online` without credentials (no `WANDB_API_KEY`, no `wandb login`) or with a server that
cannot be reached logs offline instead and says so in one warning line. `wandb` is imported only
when the sink is on.
"""
import pathlib
from typing import Any

import ml_collections
from absl import logging

from configs import schema
from records import layout

MODES = ("off", "offline", "online")


def check_mode(mode: str) -> None:
  """ValueError naming the field and its values when `mode` is not one of MODES."""
  if mode not in MODES:
    raise ValueError(f"config.logging.wandb={mode!r}: use one of {', '.join(MODES)}")


def sweep_group(workdir: pathlib.Path) -> str | None:
  """The sweep directory's name when `workdir` is a sweep's SWEEP/runs/<id>, else None."""
  workdir = workdir.resolve()
  if workdir.parent.name == layout.RUNS_DIR and (workdir.parent.parent / layout.SWEEP_FILE
                                                 ).is_file():
    return workdir.parent.parent.name
  return None


def _has_credentials(wandb: Any) -> bool:
  try:
    return bool(wandb.login(verify=False, prompt=False))
  except wandb.errors.Error:
    return False


class WandbSink:
  """One W&B run receiving `log(values, step)` until `close()`."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: pathlib.Path):
    import wandb  # pylint: disable=import-outside-toplevel
    check_mode(config.logging.wandb)
    directory = pathlib.Path(workdir)
    run_id = directory.resolve().name
    mode = config.logging.wandb
    if mode == "online" and not _has_credentials(wandb):
      logging.warning("config.logging.wandb=online but no W&B credentials were found "
                      "(set WANDB_API_KEY or run `wandb login`): logging offline to %s instead",
                      directory / layout.WANDB_DIR)
      mode = "offline"
    (directory / layout.WANDB_DIR).mkdir(parents=True, exist_ok=True)
    suffix = schema.config_hash(config)[:8]
    settings = dict(project=config.logging.wandb_project, group=sweep_group(directory),
                    name=run_id, id=run_id if run_id.endswith(suffix) else f"{run_id}-{suffix}",
                    config=schema.config_to_dict(config), dir=str(directory), resume="allow",
                    settings=wandb.Settings(silent=True, console="off"))
    try:
      self._run = wandb.init(mode=mode, **settings)
    except wandb.errors.Error as error:
      if mode != "online":
        raise
      logging.warning("config.logging.wandb=online could not reach W&B (%s): logging offline "
                      "to %s instead", " ".join(str(error).split()),
                      directory / layout.WANDB_DIR)
      self._run = wandb.init(mode="offline", **settings)

  def log(self, values: dict[str, float], step: int) -> None:
    """Logs scalars at optimizer step `step` (W&B drops steps below one already logged)."""
    self._run.log(dict(values), step=step)

  def close(self) -> None:
    """Finishes the W&B run (flushes its files)."""
    self._run.finish()


def open_sink(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> WandbSink | None:
  """The run's W&B sink, or None when `config.logging.wandb` is 'off'."""
  check_mode(config.logging.wandb)
  if config.logging.wandb == "off":
    return None
  return WandbSink(config, pathlib.Path(workdir))
