"""The set-up of a training run: `Trainer(config, devices)`.

A Trainer owns what an optimizer step changes, the parameters, the optimizer state and the count
of updates applied, and the programs that change or read them: the jitted train step, which
donates the parameters and optimizer state and returns them with the shardings they went in with
(so it compiles once), and the jitted eval step. It builds the mesh from `config.mesh`, the
model with parameters sharded by `config.logical_axis_rules` (seed `config.seed`), and AdamW
with the run's learning-rate schedule (`training.optimizer`). The training loop (data,
checkpoints, metrics files) and the throughput benchmark build the same Trainer.

Batches are int32 token windows [batch, seq_len + 1] (see `training.step`); losses are in
nats/token; `step` counts optimizer updates (one per global batch of `budget.tokens_per_step`
tokens).
"""
import contextlib
from typing import Iterator, Sequence

import jax
import ml_collections
import numpy as np
import optax
from flax import nnx

from model import ModelConfig, Transformer
from training import budget as budget_lib
from training import evaluate as evaluate_lib
from training import mesh as mesh_lib
from training import optimizer as optimizer_lib
from training import programs
from training import state as state_lib
from training import step as step_lib


class Trainer:
  """The parameters, optimizer state and jitted steps of one run on one mesh.

  Read-only attributes: `config` (the resolved run config), `model_config`, `budget` (the run's
  budgets in steps), `schedule` (learning rate per optimizer step, 0-based), `learning_rates`
  (its float32 value at every step of the run, the train step's input), `mesh`,
  `batch_sharding` (of a global [batch, ...] array), `stack_sharding` (of a [K, batch, ...]
  stack of them), `params_sharding` and `opt_sharding`
  (pytrees of NamedSharding matching `params` and `opt_state`).

  The arrays behind `params` and `opt_state` are donated to the next `train_step`: read them
  (or start an asynchronous checkpoint save of them) before it, not after.
  """

  def __init__(self, config: ml_collections.ConfigDict,
               devices: Sequence[jax.Device] | None = None):
    """Builds the mesh over `devices` (default: all devices of all processes), the sharded
    parameters and optimizer state at step 0, and the steps (compiled at their first call, or
    those of an earlier Trainer of the same programs in this process: `training.programs`).

    Raises ValueError for budgets, a mesh or parameter shapes that do not fit the config.
    """
    self.config = config
    self.model_config = ModelConfig.from_config_dict(config.model)
    self.budget = budget_lib.compute_budget(config)
    self.schedule = optimizer_lib.make_schedule(config.optimizer, self.budget)
    steps = np.arange(self.budget.total_steps)  # a constant schedule gives one value for all
    self.learning_rates = np.broadcast_to(np.asarray(self.schedule(steps), np.float32),
                                          steps.shape)
    self.mesh = mesh_lib.make_mesh(config.mesh, devices)
    self.batch_sharding = mesh_lib.batch_sharding(self.mesh)
    self.stack_sharding = mesh_lib.batch_sharding(self.mesh, stacked=True)
    with self._context():
      init = programs.INITS.get(programs.init_key(config, self.mesh), lambda: (
          state_lib.make_init_program(
              lambda rngs: Transformer(self.model_config, rngs=rngs),
              lambda params: optimizer_lib.make_optimizer(config.optimizer, params,
                                                          self.model_config), self.mesh)))
      model, opt_state = init(config.seed)
    tx, self.opt_sharding = init.tx, init.opt_sharding
    self.params_sharding = model.params_sharding
    self._params, self._opt_state, self._step = model.params, opt_state, 0

    def train_program(stacked: bool):
      return programs.TRAIN_STEPS.get(
          programs.train_step_key(config, self.mesh, stacked),
          lambda: step_lib.make_train_step(model.graphdef, model.rest, tx,
                                           config.train.grad_accum_steps, self.params_sharding,
                                           self.opt_sharding, stacked))

    self._train_step = train_program(False)
    self._train_steps = train_program(True) if config.train.steps_per_call > 1 else None
    self._eval_step = programs.EVAL_STEPS.get(
        programs.eval_step_key(config, self.mesh),
        lambda: evaluate_lib.make_eval_step(model.graphdef, model.rest))

  @property
  def params(self) -> nnx.State:
    """The trainable parameters after `step` updates, sharded by `params_sharding`."""
    return self._params

  @property
  def opt_state(self) -> optax.OptState:
    """The optimizer state after `step` updates, sharded by `opt_sharding`."""
    return self._opt_state

  @property
  def step(self) -> int:
    """Optimizer updates applied so far."""
    return self._step

  def load(self, step: int, params: nnx.State, opt_state: optax.OptState) -> None:
    """Continues from `params` and `opt_state` saved after `step` updates (a checkpoint restored
    with this Trainer's `params` and `opt_state` as targets, so with its shardings)."""
    if not 0 <= step <= self.budget.total_steps:
      raise ValueError(f"step {step} is outside the run's {self.budget.total_steps} steps")
    self._params, self._opt_state, self._step = params, opt_state, step

  def global_batch(self, local_rows: np.ndarray) -> jax.Array:
    """The global [global_batch, seq_len + 1] int32 array of which this process holds
    `local_rows` (its share of the batch), sharded by `batch_sharding`."""
    return jax.make_array_from_process_local_data(self.batch_sharding,
                                                  np.asarray(local_rows, np.int32))

  def global_batches(self, local_rows: np.ndarray) -> jax.Array:
    """The global [K, global_batch, seq_len + 1] int32 stack of K batches of which this process
    holds `local_rows` ([K, its share of a batch, seq_len + 1]); batch k is sharded as
    `global_batch` shards one."""
    return jax.make_array_from_process_local_data(self.stack_sharding,
                                                  np.asarray(local_rows, np.int32))

  def train_steps(self, batches: jax.Array) -> step_lib.Metrics:
    """K optimizer updates, in order, on a stack of K global batches (`global_batches`) in one
    call; returns their metrics stacked ([K] each; see `train_step`), still on the device.
    Needs `train.steps_per_call` > 1 (the program is built only then)."""
    if self._train_steps is None:
      raise ValueError("train_steps needs config.train.steps_per_call > 1")
    with self._context():
      rates = self.learning_rates[self._step:self._step + batches.shape[0]]
      self._params, self._opt_state, metrics = self._train_steps(self._params, self._opt_state,
                                                                 batches, rates)
    self._step += batches.shape[0]
    return metrics

  def train_step(self, batch: jax.Array) -> step_lib.Metrics:
    """One optimizer update on a global batch (`global_batch`); returns its metrics, still on
    the device (fetch them later so the host does not wait): loss (nats/token, before the
    update), grad_norm (global L2, before clipping), update_norm and param_norm (global L2 of
    the applied update and of the parameters after it)."""
    with self._context():
      self._params, self._opt_state, metrics = self._train_step(
          self._params, self._opt_state, batch, self.learning_rates[self._step])
    self._step += 1
    return metrics

  def evaluate(self, batches: Sequence[jax.Array]) -> evaluate_lib.EvalResult:
    """Loss of the current parameters on held-out global batches (nats/token)."""
    with self._context():
      return evaluate_lib.evaluate(self._eval_step, self._params, batches)

  def compiled_train_step_text(self, batch: jax.Array) -> str:
    """The optimized HLO of the train step's executable for batches shaped like `batch` (a
    stack of batches: the program of `train_steps`)."""
    rates = self.learning_rates[:batch.shape[0]] if batch.ndim == 3 else self.learning_rates[0]
    program = self._train_steps if batch.ndim == 3 else self._train_step
    with self._context():
      return program.lower(self._params, self._opt_state, batch, rates).compile().as_text()

  @contextlib.contextmanager
  def _context(self) -> Iterator[None]:
    """The mesh and the logical axis rules, active while tracing and running the steps."""
    with jax.set_mesh(self.mesh), nnx.logical_axis_rules(self.config.logical_axis_rules):
      yield
