"""The training loop: `train_and_evaluate(config, workdir) -> result`.

Validates the config, prepares the data, builds the run's `Trainer` (mesh, model, optimizer,
steps), resumes from the newest intact checkpoint in `workdir` (parameters, optimizer,
data-iterator position, loop state), trains, evaluates every `eval_every_tokens` and at the end,
checkpoints every `ckpt_every_tokens`, at the end and on SIGTERM, and writes `result.json` last.
Files in `workdir`: config.json, metrics.jsonl, tensorboard/, checkpoints/, result.json (and a
byte-level BPE run's tokenizer.json).
"""
import dataclasses
import math
import pathlib
import shutil
import time
from typing import Any, Sequence

import grain
import jax
import ml_collections
import numpy as np
from absl import logging

from configs import schema
from data import pipeline, preparation
from model import ModelConfig, counting
from records import atomic
from records import conventions
from records import layout
from records import status as status_lib
from records.result import Key, write_result
from training import branch as branch_lib
from training import budget as budget_lib
from training import checkpoint as checkpoint_lib
from training import evaluate as evaluate_lib
from training import metrics as metrics_lib
from training import optimizer as optimizer_lib
from training import preemption as preemption_lib
from training import results
from training import trainer as trainer_lib
from training import validate
from training import wandb_sink

# Norms of each train step (global L2): TensorBoard 'train/NAME' every step, and the last
# finished step's in each metrics.jsonl record.
_NORMS = ("grad_norm", "update_norm", "param_norm")


class _Throughput:
  """Steady-state training time: the clock runs between synchronization points, so it leaves
  out the first step of a launch (compilation), evaluations and checkpoint saves."""

  def __init__(self):
    self.seconds, self.steps, self._since = 0.0, 0, None

  def start(self) -> None:
    self._since = time.perf_counter()

  def pause(self) -> None:
    if self._since is not None:
      self.seconds += time.perf_counter() - self._since
      self._since = None

  def tokens_per_second(self, tokens_per_step: int) -> float:
    """Over the steps counted so far (finished while the clock ran)."""
    seconds = self.seconds
    if self._since is not None:
      seconds += time.perf_counter() - self._since
    return self.steps * tokens_per_step / seconds if self.steps and seconds > 0 else math.nan


@dataclasses.dataclass(frozen=True)
class _Data:
  """A run's corpus: the prepared splits, the resumable iterator over this process's rows of
  the training batches, and the held-out global batches (the same at every evaluation)."""
  prepared: preparation.Prepared
  train: grain.DatasetIterator
  validation: list[jax.Array]


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | pathlib.Path, *,
                       preemption: preemption_lib.Preemption | None = None,
                       devices: Sequence[jax.Device] | None = None) -> dict[str, Any]:
  """Trains and evaluates one run; returns the result record (also `workdir/result.json`).

  The returned 'status' is 'completed', 'diverged' (non-finite train loss; 'diverged_step'
  holds the step) or 'preempted' (SIGTERM or `preemption` asked to stop: a checkpoint was
  saved, result.json is not written, and calling again with the same workdir resumes).
  `devices` (default: all) are the devices the mesh spans. Raises validate.ConfigError (a
  ValueError) for an invalid config (before anything compiles), bad data, an unusable workdir
  (validate.WorkdirError) or a workdir whose checkpoints are all unreadable: problems that a
  relaunch cannot fix. Anything else it raises is a failure of the run itself.
  """
  preemption = preemption or preemption_lib.Preemption()
  with preemption.on_sigterm():  # from the start: a SIGTERM during compilation counts too
    return _setup_and_run(config, pathlib.Path(workdir), preemption, devices)


def _setup_and_run(config: ml_collections.ConfigDict, workdir: pathlib.Path,
                   preemption: preemption_lib.Preemption,
                   devices: Sequence[jax.Device] | None) -> dict[str, Any]:
  """Builds everything the loop needs (see `train_and_evaluate`), then runs it."""
  launch_start = time.time()
  devices = jax.devices() if devices is None else list(devices)
  validate.validate_config(config, len(devices), jax.process_count())
  budget = budget_lib.compute_budget(config)
  with validate.config_errors():
    point = branch_lib.branch_point(config, budget, workdir)
    if point is not None:
      branch_lib.check_trunk(config, point)
  _open_workdir(config, workdir, jax.process_index() == 0)
  model_config = ModelConfig.from_config_dict(config.model)
  logging.info("parameters: %s; FLOPs/token: %s; %d steps of %d tokens",
               counting.param_counts(model_config), counting.flops_per_token(model_config),
               budget.total_steps, budget.tokens_per_step)
  with validate.config_errors():
    prepared, train_iterator, validation = _open_data(config)
    trainer = trainer_lib.Trainer(config, devices)
  if config.data.tokenizer == "bpe" and jax.process_index() == 0:
    shutil.copyfile(prepared.tokenizer.model_file, workdir / layout.BPE_TOKENIZER_FILE)
  data = _Data(prepared, train_iterator, [trainer.global_batch(rows) for rows in validation])
  run = _Loop(config, workdir, trainer, data, preemption, launch_start, point)
  try:
    return run.run()
  finally:
    run.close()


def _open_data(config: ml_collections.ConfigDict
               ) -> tuple[preparation.Prepared, grain.DatasetIterator, list[np.ndarray]]:
  """Prepares the corpus; returns it, the training iterator over this process's rows and the
  validation batches (this process's rows, numpy)."""
  seq_len = config.model.seq_len
  prepared = pipeline.prepare(config.data, seq_len=seq_len)
  train_iterator = pipeline.train_iterator(
      prepared, global_batch_size=config.train.batch_size, seq_len=seq_len,
      seed=config.data.shuffle_seed, process_index=jax.process_index(),
      process_count=jax.process_count(), worker_count=config.data.worker_count,
      prefetch=config.data.prefetch)
  validation = pipeline.validation_batches(
      prepared, batch_size=config.train.batch_size, seq_len=seq_len,
      eval_tokens=config.train.eval_tokens, process_index=jax.process_index(),
      process_count=jax.process_count())
  return prepared, train_iterator, validation


def _open_workdir(config: ml_collections.ConfigDict, workdir: pathlib.Path,
                  is_writer: bool) -> None:
  """Creates `workdir` (and its parents), refuses another run's, and writes config.json there
  (which also proves the workdir writable). Clears temporaries that killed writers left.

  Raises validate.WorkdirError for a workdir that cannot be created, read or written.
  """
  if workdir.exists() and not workdir.is_dir():
    raise validate.WorkdirError(f"--workdir={workdir} is a file, not a directory; choose "
                                f"another --workdir")
  with validate.workdir_errors(workdir):
    workdir.mkdir(parents=True, exist_ok=True)
    validate.check_workdir(config, workdir)
    if is_writer:
      atomic.remove_stale_temporaries(workdir)
      atomic.write_json_atomic(workdir / layout.CONFIG_FILE, schema.config_to_dict(config))


class _Loop:
  """The loop proper of one launch (see `train_and_evaluate`): trains `trainer` from the newest
  checkpoint (or step 0) to the end of the budget, with the evaluations, checkpoints and
  metrics files of the run. Metrics of a call are fetched one call late, so the host never
  waits for the device between synchronization points (evaluations, saves, the first call of
  each compiled program)."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: pathlib.Path,
               trainer: trainer_lib.Trainer, data: _Data,
               preemption: preemption_lib.Preemption, launch_start: float,
               branch_point: branch_lib.BranchPoint | None):
    self._config, self._workdir, self._trainer, self._data = config, workdir, trainer, data
    self._preemption, self._launch_start = preemption, launch_start
    self._budget = trainer.budget
    self._param_counts = counting.param_counts(trainer.model_config)
    self._flops_per_token = counting.flops_per_token(trainer.model_config)
    self._checkpointer = checkpoint_lib.Checkpointer(workdir / layout.CHECKPOINTS_DIR,
                                                     config.train.keep_checkpoints)
    self._branch_point = branch_point
    self._branch_point_steps = branch_lib.branch_point_steps(config, self._budget)
    self._branch_points = (checkpoint_lib.Checkpointer(
        workdir / layout.BRANCH_POINTS_DIR, keep=None) if self._branch_point_steps else None)
    writes = jax.process_index() == 0
    self._writer = metrics_lib.MetricsWriter(
        workdir, enabled=writes, sink=wandb_sink.open_sink(config, workdir) if writes else None)
    self._smoothed = metrics_lib.SmoothedLoss()
    self._elapsed_before = 0.0  # wall seconds of the launches before this one
    self._throughput = _Throughput()
    self._norms: dict[str, float] = {}  # of the last finished step
    self._peak = math.nan

  def close(self) -> None:
    """Waits for pending checkpoint saves and closes the files."""
    self._checkpointer.close()
    if self._branch_points is not None:
      self._branch_points.close()
    self._writer.close()

  def run(self) -> dict[str, Any]:
    """Resumes, trains, evaluates; returns the result (written to result.json unless
    preempted)."""
    trainer, budget = self._trainer, self._budget
    self._resume()
    self._writer.truncate_after(trainer.step)
    self._peak = metrics_lib.peak_flops()
    called: set[int] = set()  # lengths of the calls made: the first of each compiles
    pending, diverged_step = None, None
    while trainer.step < budget.total_steps:
      start = trainer.step
      count = self._steps_in_call(start)
      cold = count not in called
      if cold:  # compilation is left out of the throughput
        if pending is not None and (diverged_step := self._finish_steps(*pending)) is not None:
          break
        pending = None
        self._throughput.pause()
      step_metrics = self._train(count)
      called.add(count)
      step = trainer.step
      if pending is not None and (diverged_step := self._finish_steps(*pending)) is not None:
        break
      pending = (start, step_metrics, not cold)
      periodic_eval = budget.eval_every_steps and step % budget.eval_every_steps == 0
      periodic_ckpt = budget.ckpt_every_steps and step % budget.ckpt_every_steps == 0
      stopping = any(self._preemption.should_stop(done) for done in range(start + 1, step + 1))
      last = step == budget.total_steps
      at_branch_point = step in self._branch_point_steps
      if cold or periodic_eval or periodic_ckpt or stopping or last or at_branch_point:
        if (diverged_step := self._finish_steps(*pending)) is not None:
          break
        pending = None
        self._throughput.pause()
        if periodic_eval and not last:
          self._evaluate()
        if at_branch_point and step not in self._branch_points.steps():
          # On disk before any later checkpoint: a resume past the point never lacks it.
          self._save(self._branch_points)
          self._branch_points.wait_until_finished()
        if periodic_ckpt or stopping or last:
          self._save(self._checkpointer)
        if stopping and not last:
          logging.warning("preempted at step %d/%d; checkpoint saved", step, budget.total_steps)
          return {"status": results.STATUS_PREEMPTED, "step": step}
        self._throughput.start()
    self._throughput.pause()
    final = None if diverged_step is not None else self._evaluate()
    result = self._result(final, diverged_step)
    self._checkpointer.wait_until_finished()
    if jax.process_index() == 0:
      write_result(self._workdir, result)
    return result

  def _steps_in_call(self, start: int) -> int:
    """Optimizer steps of the next call of the train step, from `start` steps done:
    `train.steps_per_call` when no synchronization point (an evaluation, a checkpoint, a branch
    point, the end) falls before its last step, else 1, so that each lands on its exact step."""
    per_call, budget = self._config.train.steps_per_call, self._budget
    if per_call == 1:
      return 1
    syncs = [budget.total_steps, *(point for point in self._branch_point_steps if point > start)]
    syncs += [(start // every + 1) * every
              for every in (budget.eval_every_steps, budget.ckpt_every_steps) if every]
    return per_call if start + per_call <= min(syncs) else 1

  def _train(self, count: int) -> dict[str, jax.Array]:
    """`count` optimizer steps on the next `count` batches, in one call; their metrics, still
    on the device (scalars for one step, [count] arrays for more)."""
    trainer = self._trainer
    rows = [next(self._data.train) for _ in range(count)]
    if count == 1:
      return trainer.train_step(trainer.global_batch(rows[0]))
    return trainer.train_steps(trainer.global_batches(np.stack(rows)))

  def _resume(self) -> None:
    """Loads the newest intact checkpoint into the trainer, data iterator and loop state."""
    trainer = self._trainer
    with validate.config_errors():  # no intact checkpoint: relaunching cannot help
      restored = self._checkpointer.restore_latest(trainer.params, trainer.opt_state)
    if restored is None and self._branch_point is not None:
      self._start_branch()
      return
    if restored is None:
      return
    step, params, opt_state, data_state, loop_state = restored
    trainer.load(step, params, opt_state)
    self._data.train.set_state(data_state)
    self._smoothed = metrics_lib.SmoothedLoss(**loop_state["smoothed_loss"])
    self._elapsed_before = loop_state["wall_seconds"]
    logging.info("resumed from the checkpoint at step %d", step)

  def _start_branch(self) -> None:
    """Loads the trunk's checkpoint at the branch point (parameters, optimizer, data position,
    smoothed loss) and starts metrics.jsonl with the trunk's records up to it."""
    trainer, point = self._trainer, self._branch_point
    trunk = checkpoint_lib.Checkpointer(point.checkpoint_dir, keep=None, read_only=True)
    try:
      with validate.config_errors():
        params, opt_state, data_state, loop_state = trunk.restore(
            point.step, trainer.params, trainer.opt_state)
    finally:
      trunk.close()
    trainer.load(point.step, params, opt_state)
    self._data.train.set_state(data_state)
    self._smoothed = metrics_lib.SmoothedLoss(**loop_state["smoothed_loss"])
    self._writer.start_from(point.trunk_dir / layout.METRICS_FILE, point.step)
    logging.info("branched from %s at step %d (%d tokens)", point.trunk_dir, point.step,
                 point.tokens)

  def _wall_seconds(self) -> float:
    """Wall time of the run over all its launches so far."""
    return self._elapsed_before + time.time() - self._launch_start

  def _save(self, checkpointer: checkpoint_lib.Checkpointer) -> None:
    trainer = self._trainer
    loop_state = {"step": trainer.step, "seed": self._config.seed,
                  "smoothed_loss": self._smoothed.state(), "wall_seconds": self._wall_seconds()}
    checkpointer.save(trainer.step, trainer.params, trainer.opt_state,
                      self._data.train.get_state(), loop_state)

  def _mfu(self, tokens_per_second: float) -> float:
    """Model FLOP utilization: the matmul FLOPs per token (no embedding) at `tokens_per_second`
    over the peak FLOP/s."""
    return self._flops_per_token["exact_no_embedding"] * tokens_per_second / self._peak

  def _finish_steps(self, start: int, step_metrics: dict[str, jax.Array],
                    timed: bool) -> int | None:
    """Fetches the metrics of the steps after `start` made by one call, logs each step's and,
    when `timed` (the call ran while the throughput clock did), counts them in the throughput.
    Returns the first step whose train loss is not finite (the run diverged), else None."""
    host = {name: np.atleast_1d(np.asarray(value, np.float64))
            for name, value in jax.device_get(step_metrics).items()}
    for offset, loss in enumerate(host["loss"]):
      self._finish_step(start + offset + 1, {name: float(values[offset])
                                             for name, values in host.items()})
      if not math.isfinite(loss):
        return start + offset + 1
    if timed:
      self._throughput.steps += host["loss"].size
    return None

  def _finish_step(self, done_step: int, host: dict[str, float]) -> None:
    """Logs one finished step's metrics (host floats)."""
    budget = self._budget
    if math.isfinite(host["loss"]):
      self._smoothed.update(host["loss"])
    self._norms = {name: host[name] for name in _NORMS}
    self._writer.scalars(done_step, {
        "train/loss": host["loss"], **{f"train/{name}": host[name] for name in _NORMS},
        "train/learning_rate": float(self._trainer.learning_rates[done_step - 1])})
    if done_step % self._config.train.log_every_steps == 0 or done_step == budget.total_steps:
      tokens_per_second = self._throughput.tokens_per_second(budget.tokens_per_step)
      eta = (budget.total_steps - done_step) * budget.tokens_per_step / tokens_per_second
      logging.info(metrics_lib.console_line(done_step, budget.total_steps, host["loss"],
                                            tokens_per_second, self._mfu(tokens_per_second),
                                            eta))
      if math.isfinite(tokens_per_second):
        self._writer.scalars(done_step, {"perf/tokens_per_second": tokens_per_second,
                                         "perf/mfu": self._mfu(tokens_per_second)})

  def _evaluate(self) -> evaluate_lib.EvalResult:
    """Evaluates the current parameters; logs the loss and appends a metrics.jsonl record."""
    step = self._trainer.step
    outcome = self._trainer.evaluate(self._data.validation)
    self._writer.scalars(step, {"eval/loss": outcome.loss})
    bits = self._data.prepared.bits_per_byte(outcome.loss)
    self._writer.record({
        "step": step, "tokens": self._budget.tokens_at(step), "eval_loss": outcome.loss,
        "train_loss": self._smoothed.value,
        "learning_rate": float(self._trainer.learning_rates[max(step - 1, 0)]), **self._norms,
        **({"eval_bits_per_byte": bits} if bits is not None else {})})
    logging.info("eval at step %d: loss %.4f nats/token", step, outcome.loss)
    return outcome

  def _schedule_record(self, tokens: int) -> dict[Key, Any]:
    """The schedule keys of the result: its name (a trunk's or branch's role in it), the trunk,
    where the run leaves it and how long it decays, and the FLOPs of the run's own steps."""
    config, budget, point = self._config, self._budget, self._branch_point
    name = config.optimizer.schedule
    if self._branch_point_steps:
      name = "wsd_trunk"
    elif point is not None:
      name = "wsd_branch"
    decay = (budget.tokens_at(optimizer_lib.decay_steps(config.optimizer, budget))
             if config.optimizer.schedule == "wsd" else 0)
    branch_tokens = point.tokens if point is not None else 0
    return {Key.SCHEDULE: name, Key.TRUNK_ID: point.trunk_dir.resolve().name if point else "",
            Key.BRANCH_TOKENS: branch_tokens, Key.DECAY_TOKENS: decay,
            Key.FLOPS_SPENT: self._flops_per_token[conventions.C_EXACT]
                             * max(tokens - branch_tokens, 0)}

  def _result(self, final: evaluate_lib.EvalResult | None,
              diverged_step: int | None) -> dict[str, Any]:
    """The result record of a finished (completed or diverged) run."""
    config, prepared, step = self._config, self._data.prepared, self._trainer.step
    tokens = self._budget.tokens_at(diverged_step if diverged_step is not None else step)
    tokens_per_second = self._throughput.tokens_per_second(self._budget.tokens_per_step)
    result = {
        Key.STATUS: status_lib.RunStatus.COMPLETED if final else status_lib.RunStatus.DIVERGED,
        Key.FINAL_EVAL_LOSS: final.loss if final else None,
        Key.FINAL_TRAIN_LOSS: self._smoothed.value,
        Key.EVAL_LOSS_BY_POSITION: evaluate_lib.bin_by_position(final.loss_by_position)
                                   if final else None,
        Key.EVAL_TOKENS: final.tokens if final else None,
        Key.N_PARAMS_TOTAL: self._param_counts["total"],
        Key.N_PARAMS_EMBEDDING: self._param_counts["embedding"],
        Key.N_PARAMS_NON_EMBEDDING: self._param_counts["non_embedding"],
        Key.TOKENS: tokens,
        Key.STEPS: step,
        Key.EPOCHS: pipeline.epochs_for(prepared, tokens, config.model.seq_len),
        Key.FLOPS_6ND: self._flops_per_token[conventions.C_6ND] * tokens,
        Key.FLOPS_EXACT: self._flops_per_token[conventions.C_EXACT] * tokens,
        **self._schedule_record(tokens),
        Key.WALL_SECONDS: self._wall_seconds(),
        Key.TOKENS_PER_SECOND: tokens_per_second,
        Key.MFU: self._mfu(tokens_per_second),
        Key.PEAK_FLOPS: self._peak,
        Key.CONFIG: schema.config_to_dict(config),
        Key.CONFIG_HASH: schema.config_hash(config),
        Key.CODE_VERSION: results.code_version(),
        Key.VERSIONS: results.versions(),
        Key.MACHINE: results.machine(),
        Key.DATA_MANIFEST: {"key": prepared.manifest.get("key"),
                            "content_hash": prepared.manifest.get("content_hash")},
    }
    bits = prepared.bits_per_byte(final.loss) if final else None
    if bits is not None:
      result[Key.BITS_PER_BYTE] = bits
    floor = pipeline.validation_floor(prepared, config.model.seq_len, config.train.eval_tokens)
    if floor is not None:
      result[Key.LOSS_FLOOR] = floor
    if diverged_step is not None:
      result[Key.DIVERGED_STEP] = diverged_step
      logging.error("diverged: non-finite train loss at step %d", diverged_step)
    return result
