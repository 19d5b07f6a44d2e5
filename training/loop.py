"""The training loop: `train_and_evaluate(config, workdir) -> result`.

Validates the config, builds the mesh, data, model and optimizer, resumes from the newest
intact checkpoint in `workdir` (parameters, optimizer, data-iterator position, loop state), trains,
evaluates every `eval_every_tokens` and at the end, checkpoints every `ckpt_every_tokens`, at
the end and on SIGTERM, and writes `result.json` last. Files in `workdir`: config.json,
metrics.jsonl, tensorboard/, checkpoints/, result.json.
"""
import math
import pathlib
import time
from typing import Any, Sequence

import jax
import ml_collections
import numpy as np
from absl import logging
from flax import nnx

from records import atomic
from data import pipeline
from export import compression
from model import ModelConfig, Transformer, counting
from training import budget as budget_lib
from training import checkpoint as checkpoint_lib
from training import evaluate as evaluate_lib
from training import mesh as mesh_lib
from training import metrics as metrics_lib
from training import optimizer as optimizer_lib
from training import preemption as preemption_lib
from training import results
from training import run_config
from training import state as state_lib
from training import step as step_lib
from training import validate


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


def _global_batch(local_batch: np.ndarray, sharding: jax.sharding.NamedSharding) -> jax.Array:
  """A [global_batch, T] array from this process's rows."""
  return jax.make_array_from_process_local_data(sharding, np.asarray(local_batch, np.int32))


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
  is_writer = jax.process_index() == 0
  _open_workdir(config, workdir, is_writer)
  budget = budget_lib.compute_budget(config)
  model_config = ModelConfig.from_config_dict(config.model)
  seq_len = model_config.seq_len
  param_counts = counting.param_counts(model_config)
  flops_per_token = counting.flops_per_token(model_config)
  logging.info("parameters: %s; FLOPs/token: %s; %d steps of %d tokens", param_counts,
               flops_per_token, budget.total_steps, budget.tokens_per_step)

  with validate.config_errors():
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

  mesh = mesh_lib.make_mesh(config.mesh, devices)
  with jax.set_mesh(mesh), nnx.logical_axis_rules(config.logical_axis_rules):
    with validate.config_errors():
      model = state_lib.init_model(
          lambda: Transformer(model_config, rngs=nnx.Rngs(params=config.seed)), mesh)
    tx = optimizer_lib.make_optimizer(config.optimizer, budget, model.params)
    opt_state, opt_sharding = state_lib.init_optimizer(tx, model.params, mesh)
    train_step = step_lib.make_train_step(model.graphdef, model.rest, tx,
                                          config.train.grad_accum_steps,
                                          model.params_sharding, opt_sharding)
    eval_step = evaluate_lib.make_eval_step(model.graphdef, model.rest)
    batch_sharding = mesh_lib.batch_sharding(mesh)
    validation = [_global_batch(batch, batch_sharding) for batch in validation]
    checkpointer = checkpoint_lib.Checkpointer(workdir / "checkpoints",
                                               config.train.keep_checkpoints)
    writer = metrics_lib.MetricsWriter(workdir, enabled=is_writer)
    try:
      return _run(config, workdir, budget, model, opt_state, train_step, eval_step,
                  train_iterator, validation, batch_sharding, checkpointer, writer,
                  preemption, prepared, param_counts, flops_per_token, launch_start)
    finally:
      checkpointer.close()
      writer.close()


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
      atomic.write_json_atomic(workdir / "config.json", run_config.config_to_dict(config))


def _run(config, workdir, budget, model, opt_state, train_step, eval_step, train_iterator,
         validation, batch_sharding, checkpointer, writer, preemption, prepared, param_counts,
         flops_per_token, launch_start) -> dict[str, Any]:
  """The loop proper (see `train_and_evaluate`)."""
  params = model.params
  step, smoothed, elapsed_before = 0, metrics_lib.SmoothedLoss(), 0.0
  with validate.config_errors():  # no intact checkpoint: relaunching cannot help
    restored = checkpointer.restore_latest(params, opt_state)
  if restored is not None:
    step, params, opt_state, data_state, loop_state = restored
    train_iterator.set_state(data_state)
    smoothed = metrics_lib.SmoothedLoss(**loop_state["smoothed_loss"])
    elapsed_before = loop_state["wall_seconds"]
    logging.info("resumed from the checkpoint at step %d", step)
  writer.truncate_after(step)
  peak = metrics_lib.peak_flops()
  schedule = optimizer_lib.make_schedule(config.optimizer, budget)
  throughput = _Throughput()
  first_step = step
  exact_flops = flops_per_token["exact"]
  matmul_flops = flops_per_token["exact_no_embedding"]  # MFU numerator: the matmul work

  def loop_state() -> dict[str, Any]:
    return {"step": step, "seed": config.seed, "smoothed_loss": smoothed.state(),
            "wall_seconds": elapsed_before + time.time() - launch_start}

  def save() -> None:
    checkpointer.save(step, params, opt_state, train_iterator.get_state(), loop_state())

  def finish_step(done_step: int, step_metrics: dict[str, jax.Array]) -> float:
    """Fetches a finished step's metrics (one step late) and logs them; returns the loss."""
    host = {name: float(value) for name, value in jax.device_get(step_metrics).items()}
    if math.isfinite(host["loss"]):
      smoothed.update(host["loss"])
    if done_step > first_step + 1:
      throughput.steps += 1
    writer.scalars(done_step, {"train/loss": host["loss"], "train/grad_norm": host["grad_norm"],
                               "train/learning_rate": float(schedule(done_step - 1))})
    if done_step % config.train.log_every_steps == 0 or done_step == budget.total_steps:
      tokens_per_second = throughput.tokens_per_second(budget.tokens_per_step)
      mfu = matmul_flops * tokens_per_second / peak
      eta = (budget.total_steps - done_step) * budget.tokens_per_step / tokens_per_second
      logging.info(metrics_lib.console_line(done_step, budget.total_steps, host["loss"],
                                            tokens_per_second, mfu, eta))
      if math.isfinite(tokens_per_second):
        writer.scalars(done_step, {"perf/tokens_per_second": tokens_per_second, "perf/mfu": mfu})
    return host["loss"]

  def run_eval() -> evaluate_lib.EvalResult:
    outcome = evaluate_lib.evaluate(eval_step, params, validation)
    writer.scalars(step, {"eval/loss": outcome.loss})
    bytes_per_token = getattr(prepared, "bytes_per_token", None)
    bits = ({"eval_bits_per_byte": compression.bits_per_byte(outcome.loss, bytes_per_token)}
            if bytes_per_token else {})
    writer.record({"step": step, "tokens": budget.tokens_at(step), "eval_loss": outcome.loss,
                   "train_loss": smoothed.value,
                   "learning_rate": float(schedule(max(step - 1, 0))), **bits})
    logging.info("eval at step %d: loss %.4f nats/token", step, outcome.loss)
    return outcome

  pending, diverged_step = None, None
  while step < budget.total_steps:
    batch = _global_batch(next(train_iterator), batch_sharding)
    params, opt_state, step_metrics = train_step(params, opt_state, batch)
    step += 1
    if pending is not None and not math.isfinite(finish_step(*pending)):
      diverged_step = pending[0]
      break
    pending = (step, step_metrics)
    periodic_eval = budget.eval_every_steps and step % budget.eval_every_steps == 0
    periodic_ckpt = budget.ckpt_every_steps and step % budget.ckpt_every_steps == 0
    stopping = preemption.should_stop(step)
    last = step == budget.total_steps
    if step == first_step + 1 or periodic_eval or periodic_ckpt or stopping or last:
      if not math.isfinite(finish_step(*pending)):
        diverged_step = pending[0]
        break
      pending = None
      throughput.pause()
      if periodic_eval and not last:
        run_eval()
      if periodic_ckpt or stopping or last:
        save()
      if stopping and not last:
        logging.warning("preempted at step %d/%d; checkpoint saved", step, budget.total_steps)
        return {"status": results.STATUS_PREEMPTED, "step": step}
      throughput.start()
  throughput.pause()

  final = None if diverged_step is not None else run_eval()
  tokens = budget.tokens_at(diverged_step if diverged_step is not None else step)
  tokens_per_second = throughput.tokens_per_second(budget.tokens_per_step)
  result = {
      "status": results.STATUS_COMPLETED if final else results.STATUS_DIVERGED,
      "final_eval_loss": final.loss if final else None,
      "final_train_loss": smoothed.value,
      "eval_loss_by_position": evaluate_lib.bin_by_position(final.loss_by_position)
                               if final else None,
      "eval_tokens": final.tokens if final else None,
      "n_params_total": param_counts["total"],
      "n_params_embedding": param_counts["embedding"],
      "n_params_non_embedding": param_counts["non_embedding"],
      "tokens": tokens,
      "steps": step,
      "epochs": pipeline.epochs_for(prepared, tokens, config.model.seq_len),
      "flops_6nd": flops_per_token["six_n"] * tokens,
      "flops_exact": exact_flops * tokens,
      "wall_seconds": elapsed_before + time.time() - launch_start,
      "tokens_per_second": tokens_per_second,
      "mfu": matmul_flops * tokens_per_second / peak,
      "peak_flops": peak,
      "config": run_config.config_to_dict(config),
      "config_hash": run_config.config_hash(config),
      "code_version": results.code_version(),
      "versions": results.versions(),
      "data_manifest": {"key": prepared.manifest.get("key"),
                        "content_hash": prepared.manifest.get("content_hash")},
  }
  bytes_per_token = getattr(prepared, "bytes_per_token", None)
  if final and bytes_per_token:
    result["bits_per_byte"] = compression.bits_per_byte(final.loss, bytes_per_token)
  if diverged_step is not None:
    result["diverged_step"] = diverged_step
    logging.error("diverged: non-finite train loss at step %d", diverged_step)
  checkpointer.wait_until_finished()
  if jax.process_index() == 0:
    atomic.write_json_atomic(workdir / "result.json", result)
  return result

