"""A tiny run config for loop tests (d_model 32, 2 layers, seq 32, 8 steps of 256 tokens),
preemptions that stop or crash a run at a step, and the parameters a run saved last. (The session's persistent compilation cache,
so that runs of the same shapes compile once, is tests/conftest.py's.)"""
import pathlib
from typing import Callable

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
import pytest
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.util import tensor_util

from configs import base
from training import preemption


class StopAt(preemption.Preemption):
  """Asks to stop (checkpoint and return) once `step` optimizer steps are done."""

  def __init__(self, step: int):
    super().__init__()
    self._step = step

  def should_stop(self, step: int) -> bool:
    return step >= self._step


class CrashAt(StopAt):
  """Dies at `step` without saving, like a killed process (the last periodic save survives)."""

  def should_stop(self, step: int) -> bool:
    if step >= self._step:
      raise KeyboardInterrupt
    return False


def tiny_run_config(prepared_dir: str) -> ml_collections.ConfigDict:
  """8 steps of 8 x 32 tokens on the synthetic corpus; evals every 4 steps, checkpoints every 2."""
  config = base.get_config()
  config.model.update(vocab_size=64, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=64,
                      seq_len=32)
  config.data.update(corpus="synthetic", synthetic_vocab=64, synthetic_states=8,
                     synthetic_tokens=100_000, val_fraction=0.2, prepared_dir=prepared_dir)
  config.train.update(batch_size=8, train_tokens=2048, warmup_tokens=512, eval_every_tokens=1024,
                      eval_tokens=512, ckpt_every_tokens=512, keep_checkpoints=2,
                      log_every_steps=4)
  config.mesh.update(data=1, fsdp=1, tensor=1)
  return config


@pytest.fixture(scope="session")
def prepared_dir(tmp_path_factory) -> str:
  """One data cache for every loop test (the synthetic corpus is prepared once)."""
  return str(tmp_path_factory.mktemp("prepared"))


@pytest.fixture
def tiny_config(prepared_dir, monkeypatch) -> ml_collections.ConfigDict:
  """The tiny config; MFU uses a fixed peak so tests do not time matmuls."""
  monkeypatch.setenv("SCALING_LAB_PEAK_FLOPS", "1e11")
  return tiny_run_config(prepared_dir)


@pytest.fixture
def stop_at() -> type[StopAt]:
  """`stop_at(step)`: a Preemption that stops the run, with a checkpoint, at `step`."""
  return StopAt


@pytest.fixture
def crash_at() -> type[CrashAt]:
  """`crash_at(step)`: a Preemption that kills the run at `step`, saving nothing."""
  return CrashAt


def _final_params(workdir: pathlib.Path) -> list[np.ndarray]:
  manager = ocp.CheckpointManager(pathlib.Path(workdir) / "checkpoints", item_names=("params",))
  restored = manager.restore(manager.latest_step(),
                             args=ocp.args.Composite(params=ocp.args.StandardRestore()))
  manager.close()
  return [np.asarray(leaf) for leaf in jax.tree.leaves(restored.params)]


@pytest.fixture
def final_params() -> Callable[[pathlib.Path], list[np.ndarray]]:
  """`final_params(workdir)`: the parameter leaves of the run's newest checkpoint, on the host."""
  return _final_params


def _tensorboard_scalars(logdir: pathlib.Path) -> dict[str, list[float]]:
  events = event_accumulator.EventAccumulator(str(logdir))
  events.Reload()
  return {tag: [float(tensor_util.make_ndarray(event.tensor_proto))
                for event in sorted(events.Tensors(tag), key=lambda event: event.step)]
          for tag in events.Tags()["tensors"]}


@pytest.fixture
def tensorboard_scalars() -> Callable[[pathlib.Path], dict[str, list[float]]]:
  """`tensorboard_scalars(logdir)`: every scalar series of a TensorBoard log directory, by tag,
  in step order (read back with TensorBoard's own event reader)."""
  return _tensorboard_scalars
