"""Does μP hold the optimal learning rate across width? LR*(width) under both parametrisations.

  python benchmarks/lr_transfer.py [--append_to=BENCHMARKS.md]

For each width (same depth, same tokens per non-embedding parameter, the same batches in the
same order, byte-level Python standard library text) and each parametrisation, a grid of peak
learning rates x2 apart is trained from one initialisation. The grid's runs train together in
one program, vmapped over the learning rate (a grid whose lowest loss sits at an edge is
extended past it by two rates, at most twice): AdamW's update is linear in its learning rate, so
the project's optimizer (`training.optimizer.make_optimizer`, μP multipliers included) built at
peak 1 and scaled by each peak is that optimizer at that peak. μP's base width is the smallest
width, where the two parametrisations are the same model.

Per width, the optimum and its 95% interval come from `scaling.lr_fit.fit_optimum` (a
log-quadratic in ln LR); LR*(N) = k N^alpha from `scaling.lr_fit.fit_law` over the widths. The
loss lost by a learning rate is the fitted parabola's loss there minus its minimum (nats/token),
for the fitted law's LR and for the demo's old hand-set rule 4e-3 x (N / 1e5)^-0.25; a rule LR
outside the grid is extrapolated and marked so. Losses do not depend on machine load; the wall
time printed does.
"""
import datetime
import math
import os
import time
from importlib import metadata

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from configs import base
from data import pipeline
from model import ModelConfig, Transformer, counting
from scaling import lr_fit
from training import budget as budget_lib
from training import optimizer as optimizer_lib
from training import step as step_lib

import host  # benchmarks/host.py, beside this script

_WIDTHS = flags.DEFINE_list("widths", ["32", "64", "128"], "d_model of each size; the first is "
                            "μP's base width.")
_LAYERS = flags.DEFINE_integer("n_layers", 1, "Blocks of every size.")
_HEAD_DIM = flags.DEFINE_integer("head_dim", 16, "Head size (heads are added as width grows).")
_TOKENS_PER_PARAMETER = flags.DEFINE_float("tokens_per_parameter", 4.0,
                                           "D / N (non-embedding) of every size.")
_LEARNING_RATES = flags.DEFINE_list("learning_rates", ["2.5e-3", "5e-3", "1e-2", "2e-2", "4e-2"],
                                    "Peak learning rates of every grid.")
_APPEND_TO = flags.DEFINE_string("append_to", "", "Markdown file to append the section to.")

SEQ_LEN, BATCH, EVAL_TOKENS = 64, 16, 65_536
PARAMETRIZATIONS = ("standard", "mup")
OLD_RULE = "4e-3 x (N/1e5)^-0.25"
EXTENSIONS = 2


def old_rule(n_non_embedding: float) -> float:
  """The demo's former hand-set learning rate: 4e-3 x (N / 1e5)^-0.25, N non-embedding."""
  return 4e-3 * (n_non_embedding / 1e5) ** -0.25


def run_config(width: int, parametrization: str, base_width: int):
  """The run config of one size: d_ff = 8/3 d rounded to 16, `tokens_per_parameter` x N."""
  config = base.get_config()
  config.model.update(d_model=width, n_layers=_LAYERS.value, n_heads=width // _HEAD_DIM.value,
                      n_kv_heads=width // _HEAD_DIM.value, d_ff=16 * round(width / 6),
                      seq_len=SEQ_LEN, parametrization=parametrization)
  if parametrization == "mup":
    config.model.mup_base_width = base_width
  n = counting.param_counts(ModelConfig.from_config_dict(config.model))["non_embedding"]
  tokens_per_step = BATCH * SEQ_LEN
  steps = max(1, round(_TOKENS_PER_PARAMETER.value * n / tokens_per_step))
  config.train.update(batch_size=BATCH, train_tokens=steps * tokens_per_step,
                      warmup_tokens=max(1, steps // 10) * tokens_per_step,
                      eval_tokens=EVAL_TOKENS)
  config.optimizer.peak_learning_rate = 1.0  # each grid point scales the update by its peak
  return config


def train_grid(config, learning_rates: np.ndarray, train_batches: np.ndarray,
               validation: list[np.ndarray]) -> np.ndarray:
  """Final validation loss (nats/token) of one size at every peak learning rate."""
  model_config = ModelConfig.from_config_dict(config.model)
  build = lambda: Transformer(model_config, rngs=nnx.Rngs(params=config.seed))
  graphdef, params, rest = nnx.split(build(), nnx.Param, ...)
  budget = budget_lib.compute_budget(config)
  tx = optimizer_lib.make_optimizer(config.optimizer, params, model_config)
  schedule = optimizer_lib.make_schedule(config.optimizer, budget)
  grid = len(learning_rates)
  params = jax.tree.map(lambda x: jnp.broadcast_to(x, (grid,) + x.shape), params)
  opt_state = jax.vmap(tx.init)(params)

  def update(params, opt_state, batch, learning_rate):
    grads = jax.grad(step_lib.mean_loss, argnums=1)(graphdef, params, rest, batch)
    updates, opt_state = tx.update(grads, opt_state, params, learning_rate=learning_rate)
    return optax.apply_updates(params, updates), opt_state

  step = jax.jit(jax.vmap(update, in_axes=(0, 0, None, 0)), donate_argnums=(0, 1))
  evaluate = jax.jit(jax.vmap(lambda p, b: step_lib.mean_loss(graphdef, p, rest, b),
                              in_axes=(0, None)))
  rates = jnp.asarray(learning_rates, jnp.float32)
  for index, batch in enumerate(train_batches[:budget.total_steps]):
    params, opt_state = step(params, opt_state, batch, rates * schedule(index))
  losses = np.mean([np.asarray(evaluate(params, batch)) for batch in validation], axis=0)
  return np.where(np.isfinite(losses), losses, np.nan)


def loss_lost(optimum: lr_fit.Optimum, learning_rate: float) -> str:
  """The fitted parabola's loss at `learning_rate` above its minimum (nats/token); 'n/a' when
  the optimum is at an edge of its grid (the parabola's minimum is not the optimum)."""
  if optimum.edge:
    return "n/a"
  return f"{float(optimum.curve(np.array([learning_rate]))[0] - optimum.minimum_loss):.4f}"


def train_extended(config, learning_rates: np.ndarray, train_batches: np.ndarray,
                   validation: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
  """(learning rates, losses) of a grid extended by two rates x2 apart past an edge where the
  lowest loss sits, at most twice (as the sweep's search extends its grids)."""
  rates = np.asarray(learning_rates, dtype=np.float64)
  losses = train_grid(config, rates, train_batches, validation)
  for _ in range(EXTENSIONS):
    best = int(np.nanargmin(losses))
    if 0 < best < len(rates) - 1:
      break
    more = rates[-1] * np.array([2.0, 4.0]) if best else rates[0] / np.array([4.0, 2.0])
    more_losses = train_grid(config, more, train_batches, validation)
    rates, losses = ((np.concatenate([rates, more]), np.concatenate([losses, more_losses]))
                     if best else (np.concatenate([more, rates]),
                                   np.concatenate([more_losses, losses])))
  return rates, losses


def measure(widths: list[int], learning_rates: np.ndarray) -> dict:
  """{parametrization: [(width, N, D, learning rates, losses)]} over the widths."""
  probe = run_config(widths[-1], "standard", widths[0])
  prepared = pipeline.prepare(probe.data, seq_len=SEQ_LEN)
  most_steps = budget_lib.compute_budget(probe).total_steps
  iterator = pipeline.train_iterator(prepared, global_batch_size=BATCH, seq_len=SEQ_LEN,
                                     seed=probe.data.shuffle_seed)
  train_batches = np.stack([next(iterator) for _ in range(most_steps)])
  validation = pipeline.validation_batches(prepared, BATCH, SEQ_LEN, EVAL_TOKENS)
  found = {}
  for parametrization in PARAMETRIZATIONS:
    rows = []
    for width in widths:
      config = run_config(width, parametrization, widths[0])
      n = counting.param_counts(ModelConfig.from_config_dict(config.model))["non_embedding"]
      if parametrization == "mup" and width == widths[0]:
        rows.append(found["standard"][0])  # at its base width μP is the standard model
        continue
      rates, losses = train_extended(config, learning_rates, train_batches, validation)
      rows.append((width, n, config.train.train_tokens, rates, losses))
      print(f"{parametrization} d={width} N={n} D={config.train.train_tokens}: "
            + " ".join(f"{rate:g}:{loss:.4f}" for rate, loss in zip(rates, losses)), flush=True)
    found[parametrization] = rows
  return found


def _interval(optimum: lr_fit.Optimum) -> str:
  low, high = optimum.interval
  return "-" if math.isnan(low) else f"{low:.2g}-{high:.2g}"


def section(found: dict, learning_rates: np.ndarray, seconds: float, start_load: float) -> str:
  """The BENCHMARKS.md section: grids, optima, laws, losses lost and the verdict."""
  lines = [
      f"## Learning-rate transfer across width, standard against μP "
      f"({datetime.date.today().isoformat()})", "",
      f"`python benchmarks/lr_transfer.py` on {host.cpu_model()} ({os.cpu_count()} cores, "
      f"shared with other jobs: load average {start_load:.0f} at the start and "
      f"{os.getloadavg()[0]:.0f} at the end; losses do not "
      f"depend on load, the {seconds / 60:.0f} min wall time does), jax "
      f"{metadata.version('jax')}, flax {metadata.version('flax')}, optax "
      f"{metadata.version('optax')}.", "",
      f"Byte-level Python standard library text, {_LAYERS.value} block(s), head size "
      f"{_HEAD_DIM.value}, d_ff = 8/3 d, seq {SEQ_LEN}, batch {BATCH}, AdamW (cosine, 10% "
      f"warmup), D = {_TOKENS_PER_PARAMETER.value:g} x N tokens (N non-embedding), loss on "
      f"{EVAL_TOKENS:,} held-out tokens (nats/token). Peak LRs "
      f"{', '.join(f'{rate:g}' for rate in learning_rates)} (extended past an edge optimum), "
      f"one init and one batch order per width. μP's base width is {found['mup'][0][0]}, where "
      "both are the same model (one run serves both rows). LR* and its 95% interval: "
      "log-quadratic fit in ln LR (`scaling.lr_fit`); law: LR* = k N^alpha "
      "over the widths; loss lost: fitted parabola at that LR minus its minimum (* = that LR "
      "is outside the grid, extrapolated).", "",
      "| parametrisation | d_model | N | D | losses over the grid | LR* (95%) | law LR (lost) "
      f"| old rule {OLD_RULE} (lost) |",
      "|---|---|---|---|---|---|---|---|"]
  drift = {}
  for parametrization, rows in found.items():
    optima = [lr_fit.fit_optimum(rates[np.isfinite(losses)], losses[np.isfinite(losses)],
                                 level=0.95)
              for _, _, _, rates, losses in rows]
    law = lr_fit.fit_law([n for _, n, _, _, _ in rows], [o.learning_rate for o in optima])
    drift[parametrization] = (optima[-1].learning_rate / optima[0].learning_rate, law)
    for (width, n, tokens, rates, losses), optimum in zip(rows, optima):
      outside = lambda rate: "*" if not rates[0] <= rate <= rates[-1] else ""
      law_rate, rule_rate = float(law(n)), old_rule(n)
      edge = f" (at {optimum.edge} edge)" if optimum.edge else ""
      lines.append(
          f"| {parametrization} | {width} | {n:,} | {tokens:,} | "
          + " ".join(f"{loss:.3f}" for loss in losses)
          + (f" (grid extended to {rates[0]:g}-{rates[-1]:g})" if len(rates) > len(learning_rates)
             else "")
          + f" | {optimum.learning_rate:.2g} ({_interval(optimum)}){edge} "
          f"| {law_rate:.2g} ({loss_lost(optimum, law_rate)}) "
          f"| {rule_rate:.2g}{outside(rule_rate)} ({loss_lost(optimum, rule_rate)}) |")
  widths = f"d={found['mup'][0][0]} to {found['mup'][-1][0]}"
  for parametrization, (ratio, law) in drift.items():
    low, high = law.n_exponent_interval
    lines.append("")
    lines.append(f"- {parametrization}: LR* x{ratio:.2f} from {widths}; law LR* = "
                 f"{law.coefficient:.3g} N^{law.n_exponent:.3f} (alpha 95%: {low:.2f} to "
                 f"{high:.2f})")
  moves_less = abs(math.log(drift["mup"][0])) < abs(math.log(drift["standard"][0]))
  lines += ["", f"Verdict: measured here, μP moves the optimum {'less' if moves_less else 'more'} "
            f"across width than the standard parametrisation (LR* x{drift['mup'][0]:.2f} "
            f"against x{drift['standard'][0]:.2f} from {widths}).", ""]
  return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
  del argv
  start, start_load = time.time(), os.getloadavg()[0]
  widths = [int(width) for width in _WIDTHS.value]
  learning_rates = np.array([float(rate) for rate in _LEARNING_RATES.value])
  found = measure(widths, learning_rates)
  host.publish(section(found, learning_rates, time.time() - start, start_load),
               _APPEND_TO.value)


if __name__ == "__main__":
  app.run(main)
