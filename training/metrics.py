"""Run metrics: metrics.jsonl, TensorBoard events, the console line, throughput and MFU.

Losses are in nats/token, throughput in tokens/s, FLOPs are model FLOPs (the exact training
count per token from `model.counting`), and MFU is achieved model FLOP/s over the peak FLOP/s
of the machine (measured once per host, see `peak_flops`).
"""
import functools
import json
import math
import os
import pathlib
import socket
import time
from typing import Any

import jax
import jax.numpy as jnp
import tensorboard.summary
from absl import logging

from records import atomic
from records import console
from records import layout

PEAK_FLOPS_ENV = "SCALING_LAB_PEAK_FLOPS"
# The measured matmul peak of each host and device set, so that a run need not measure it again.
PEAK_CACHE = pathlib.Path("~/.cache/scaling-lab/peak_flops.json")


@functools.cache
def measured_matmul_peak(size: int = 2048, repeats: int = 5) -> float:
  """Best fp32 FLOP/s of jitted square matmuls, one per local device, all at once (cached).

  One device: the machine's matmul peak. Several devices (accelerators, or fake CPU devices that
  share the same cores): their combined peak.
  """
  devices = jax.local_devices()
  sharding = jax.sharding.NamedSharding(jax.sharding.Mesh(devices, ("devices",)),
                                        jax.sharding.PartitionSpec("devices"))
  lhs = jax.device_put(jnp.ones((len(devices), size, size), jnp.float32), sharding)
  rhs = jax.device_put(jnp.ones((len(devices), size, size), jnp.float32) / size, sharding)
  matmul = jax.jit(lambda a, b: jnp.einsum("nij,njk->nik", a, b), out_shardings=sharding)
  matmul(lhs, rhs).block_until_ready()
  best = math.inf
  for _ in range(repeats):
    start = time.perf_counter()
    matmul(lhs, rhs).block_until_ready()
    best = min(best, time.perf_counter() - start)
  return 2 * len(devices) * size**3 / best


def _peak_key(size: int) -> str:
  """What a measured peak depends on: the host, its devices, the matmul size and jax."""
  devices = jax.local_devices()
  return (f"{socket.gethostname()}|{jax.default_backend()}|{devices[0].device_kind}"
          f"|{len(devices)}|{size}|jax {jax.__version__}")


def cached_matmul_peak(size: int, cache: pathlib.Path | None) -> float:
  """`measured_matmul_peak(size)`, measured once per host and device set and kept in `cache`
  (a JSON file; None measures every time). Delete the file to measure again."""
  if cache is None:
    return measured_matmul_peak(size=size)
  cache = cache.expanduser()
  known = atomic.read_json(cache) or {}
  key = _peak_key(size)
  if key not in known:
    known[key] = measured_matmul_peak(size=size)
    cache.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_json_atomic(cache, known)
  return known[key]


def peak_flops(cache: pathlib.Path | None = PEAK_CACHE) -> float:
  """Peak FLOP/s of the whole job for MFU: `$SCALING_LAB_PEAK_FLOPS` if set, else the matmul
  peak of this process's devices (see `cached_matmul_peak`) x the process count."""
  override = os.environ.get(PEAK_FLOPS_ENV)
  if override:
    value = float(override)
    if not value > 0:
      raise ValueError(f"${PEAK_FLOPS_ENV}={override!r} must be a positive FLOP/s number")
    return value
  size = 2048 if jax.default_backend() == "cpu" else 8192
  return cached_matmul_peak(size, cache) * jax.process_count()


class SmoothedLoss:
  """Bias-corrected exponential moving average of the train loss (nats/token)."""

  def __init__(self, decay: float = 0.9, average: float = 0.0, count: int = 0):
    self.decay, self.average, self.count = decay, average, count

  def update(self, loss: float) -> None:
    self.average = self.decay * self.average + (1 - self.decay) * loss
    self.count += 1

  @property
  def value(self) -> float:
    """The smoothed loss (NaN before the first update)."""
    if not self.count:
      return math.nan
    return self.average / (1 - self.decay**self.count)

  def state(self) -> dict[str, Any]:
    """JSON-able state for checkpoints."""
    return {"decay": self.decay, "average": self.average, "count": self.count}


def console_line(step: int, total_steps: int, loss: float, tokens_per_second: float,
                 mfu: float, eta_seconds: float) -> str:
  """The periodic progress line: step/total, loss (nats/token), tokens/s, MFU, ETA."""
  return (f"step {step}/{total_steps} loss {loss:.4f} tokens/s {tokens_per_second:,.0f} "
          f"mfu {100 * mfu:.1f}% eta {console.format_duration(eta_seconds)}")


class MetricsWriter:
  """Writes `metrics.jsonl` (one record per evaluation) and TensorBoard scalars, and passes the
  scalars on to `sink` (an object with `log(values, step)` and `close()`, e.g. W&B) when given.

  Only the writing process (process 0) touches files; the others get a no-op writer.
  """

  def __init__(self, workdir: str | pathlib.Path, enabled: bool = True, sink: Any = None):
    self._enabled = enabled
    self._sink = sink if enabled else None
    self._jsonl = pathlib.Path(workdir) / layout.METRICS_FILE
    # TensorBoard's own numpy-only event writer: tensorboardX would import torch when installed.
    self._tensorboard = (tensorboard.summary.Writer(str(pathlib.Path(workdir)
                                                        / layout.TENSORBOARD_DIR))
                         if enabled else None)

  def truncate_after(self, step: int) -> None:
    """Drops JSONL records later than `step` (a resumed run redoes those steps)."""
    if not self._enabled or not self._jsonl.exists():
      return
    lines = self._jsonl.read_text().splitlines()
    kept = [line for line in lines if line and json.loads(line)["step"] <= step]
    if len(kept) != len(lines):
      logging.info("metrics.jsonl: dropped %d records after step %d", len(lines) - len(kept), step)
      self._jsonl.write_text("".join(line + "\n" for line in kept))

  def start_from(self, other: str | pathlib.Path, step: int) -> None:
    """Starts metrics.jsonl with the records of another run's metrics.jsonl up to `step` (a
    branch continues its trunk's curve); a missing file gives none."""
    other = pathlib.Path(other)
    if not self._enabled or not other.exists():
      return
    kept = [line for line in other.read_text().splitlines()
            if line and json.loads(line)["step"] <= step]
    self._jsonl.write_text("".join(line + "\n" for line in kept))

  def scalars(self, step: int, values: dict[str, float]) -> None:
    """TensorBoard scalars at `step` (tags like 'train/loss')."""
    if self._enabled:
      for tag, value in values.items():
        self._tensorboard.add_scalar(tag, value, step)
    if self._sink is not None:
      self._sink.log(values, step)

  def record(self, record: dict[str, Any]) -> None:
    """Appends one JSON record (must hold 'step') to metrics.jsonl."""
    if self._enabled:
      with self._jsonl.open("a") as stream:
        stream.write(json.dumps(record) + "\n")

  def close(self) -> None:
    """Flushes and closes the TensorBoard writer (and the sink)."""
    if self._enabled:
      self._tensorboard.close()
    if self._sink is not None:
      self._sink.close()
