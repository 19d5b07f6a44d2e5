"""Training throughput (tokens/s) and MFU of the project's train step, per model size and dtype.

  python benchmarks/train_throughput.py [--peer=torch] [--profile] [--sizes=d128,d256]
  python benchmarks/train_throughput.py --sizes=stdlib8x5,stdlib32x2 --seq_len=128
  python benchmarks/train_throughput.py --sizes=ladder8x1,ladder40x1 --seq_len=32 \
      --vocab_size=72 --steps_per_call=1,16     # the demo's shapes, one and 16 steps a call

Times the real train step (the training loop's `Trainer`, training/trainer.py: forward,
backward, clipping, AdamW) on one device with random tokens. MFU is model FLOPs
(counting.flops_per_token 'exact_no_embedding', the matmul work of a training step per token)
x tokens/s over the fp32 matmul peak measured in the same process. `--peer=torch` also times
the same architecture written in plain PyTorch (eager; `pip install -e .[bench]`) in the same
process and prints our tokens/s over the peer's. `--steps_per_call=K` times the program that
applies K steps in one call to a stack of K batches (`train.steps_per_call`), one row per K.
`--profile` traces one window with jax.profiler (and the peer's with torch.profiler) and gives the
wall time per step spent in matrix products against the time any op runs: on XLA's side the
products are the executable's dot ops and the fusions (YNNPACK, XNNPACK, loop) built around a dot,
read from the compiled HLO; on the peer's, mm / addmm / bmm and the fused attention kernels.
Prints a markdown table for BENCHMARKS.md.
"""
import datetime
import itertools
import platform
import re
import subprocess
import time

import jax
import numpy as np
from absl import app, flags

from configs import base
from model import ModelConfig, counting
from training import metrics
from training import trainer as trainer_lib

SIZES = {  # name: (d_model, n_layers, n_heads, d_ff)
    "d128": (128, 2, 4, 384),
    "d256": (256, 4, 4, 768),
    "d384": (384, 4, 6, 1152),
    "d512": (512, 4, 8, 1536),
    # Shapes of configs/sweeps/stdlib.py's runs (head size 8; run them with --seq_len=128).
    "stdlib8x5": (8, 5, 1, 24),
    "stdlib16x3": (16, 3, 2, 40),
    "stdlib24x1": (24, 1, 3, 64),
    "stdlib32x2": (32, 2, 4, 88),
    "stdlib48x2": (48, 2, 6, 128),
    # The smallest, a middle and the largest of configs/sweeps/demo.py's ladder (head size 4;
    # run them with --seq_len=32 --vocab_size=72).
    "ladder8x1": (8, 1, 2, 24),
    "ladder24x1": (24, 1, 6, 64),
    "ladder40x1": (40, 1, 10, 104),
}

_SIZES = flags.DEFINE_list("sizes", list(SIZES)[:4], f"Model sizes from {list(SIZES)}.")
_DTYPES = flags.DEFINE_list("dtypes", ["float32", "bfloat16"], "Compute dtypes.")
_BATCH = flags.DEFINE_integer("batch_size", 16, "Sequences per step.")
_SEQ_LEN = flags.DEFINE_integer("seq_len", 256, "Tokens per sequence.")
_VOCAB = flags.DEFINE_integer("vocab_size", 264, "Vocabulary (264: the byte tokenizer's).")
_STEPS = flags.DEFINE_integer("steps", 8, "Steps per timed window.")
_WINDOWS = flags.DEFINE_integer("windows", 3, "Timed windows per measurement; the best counts.")
_PEER = flags.DEFINE_enum("peer", "", ["", "torch"], "Also time a peer implementation.")
_PER_CALL = flags.DEFINE_list("steps_per_call", ["1"],
                               "Optimizer steps per call of the train step, one row each.")
_PROFILE = flags.DEFINE_bool("profile", False, "Split device time into matmuls and the rest.")


def run_config(size: str, dtype: str):
  """The base run config at one benchmark size."""
  d_model, n_layers, n_heads, d_ff = SIZES[size]
  config = base.get_config()
  config.model.update(vocab_size=_VOCAB.value, d_model=d_model, n_layers=n_layers,
                      n_heads=n_heads, n_kv_heads=n_heads, d_ff=d_ff,
                      seq_len=_SEQ_LEN.value, dtype=dtype)
  tokens_per_step = _BATCH.value * _SEQ_LEN.value
  # The warm-up and each window run at most `steps` plus one call: the schedule must cover them.
  steps = (1 + _WINDOWS.value) * (max(2, _STEPS.value) + max(map(int, _PER_CALL.value)))
  config.train.update(batch_size=_BATCH.value, train_tokens=max(1000, steps) * tokens_per_step,
                      warmup_tokens=10 * tokens_per_step, eval_every_tokens=0,
                      ckpt_every_tokens=0, eval_tokens=tokens_per_step)
  config.mesh.update(data=1, fsdp=1, tensor=1)
  return config


def best_seconds_per_step(run_steps, windows: int, steps: int) -> float:
  """Best (least noisy) mean step time over `windows` windows of at least `steps` steps
  (`run_steps(n)` runs at least n steps and returns how many it ran)."""
  run_steps(2)  # compile and warm up
  best = float("inf")
  for _ in range(windows):
    start = time.perf_counter()
    ran = run_steps(steps)
    best = min(best, (time.perf_counter() - start) / ran)
  return best


def jax_runner(config, batch_BxT: np.ndarray, steps_per_call: int = 1):
  """A closure running at least n train steps of the run's `Trainer` (the set-up the training
  loop builds) on one device, `steps_per_call` steps a call, and returning how many it ran; its
  attribute `compiled_hlo()` returns the optimised HLO of the program's executable."""
  config.train.steps_per_call = steps_per_call
  trainer = trainer_lib.Trainer(config, jax.devices()[:1])
  if steps_per_call == 1:
    batch, call = trainer.global_batch(batch_BxT), trainer.train_step
  else:
    batch = trainer.global_batches(np.stack([batch_BxT] * steps_per_call))
    call = trainer.train_steps

  def run_steps(count: int) -> int:
    calls = -(-count // steps_per_call)
    for _ in range(calls):
      step_metrics = call(batch)
    jax.block_until_ready(step_metrics["loss"])
    return calls * steps_per_call

  run_steps.compiled_hlo = lambda: trainer.compiled_train_step_text(batch)
  return run_steps


def torch_version() -> str:
  import torch  # pylint: disable=g-import-not-at-top  (optional 'bench' extra)
  return torch.__version__


def torch_runner(model_config: ModelConfig, optimizer_config, batch_BxT: np.ndarray):
  """The same architecture in plain PyTorch (eager): tied embedding, pre-norm blocks with RMSNorm,
  rotary multi-head attention (scaled_dot_product_attention, causal), SwiGLU; AdamW with the
  same weight-decay split and gradient clipping. Returns a closure running n train steps."""
  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn  # pylint: disable=g-import-not-at-top
  from torch.nn import functional  # pylint: disable=g-import-not-at-top

  cfg = model_config
  head_dim = cfg.head_dim
  exponents = torch.arange(0, head_dim // 2, dtype=torch.float32) * (2.0 / head_dim)
  angles = torch.arange(cfg.seq_len, dtype=torch.float32)[:, None] * cfg.rope_theta**-exponents
  sin, cos = torch.sin(angles)[None, :, None, :], torch.cos(angles)[None, :, None, :]

  def rope(x):
    first, second = x.chunk(2, dim=-1)
    return torch.cat([first * cos - second * sin, second * cos + first * sin], dim=-1)

  class Block(nn.Module):

    def __init__(self):
      super().__init__()
      self.attention_norm = nn.RMSNorm(cfg.d_model, eps=cfg.norm_eps)
      self.query = nn.Linear(cfg.d_model, cfg.n_heads * head_dim, bias=False)
      self.key = nn.Linear(cfg.d_model, cfg.n_kv_heads * head_dim, bias=False)
      self.value = nn.Linear(cfg.d_model, cfg.n_kv_heads * head_dim, bias=False)
      self.output = nn.Linear(cfg.n_heads * head_dim, cfg.d_model, bias=False)
      self.mlp_norm = nn.RMSNorm(cfg.d_model, eps=cfg.norm_eps)
      self.gate = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
      self.up = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
      self.down = nn.Linear(cfg.d_ff, cfg.d_model, bias=False)

    def forward(self, x):
      batch, length, _ = x.shape
      normed = self.attention_norm(x)
      query = rope(self.query(normed).view(batch, length, cfg.n_heads, head_dim))
      key = rope(self.key(normed).view(batch, length, cfg.n_kv_heads, head_dim))
      value = self.value(normed).view(batch, length, cfg.n_kv_heads, head_dim)
      attended = functional.scaled_dot_product_attention(
          query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2), is_causal=True,
          enable_gqa=cfg.n_kv_heads != cfg.n_heads)
      x = x + self.output(attended.transpose(1, 2).reshape(batch, length, -1))
      normed = self.mlp_norm(x)
      return x + self.down(functional.silu(self.gate(normed)) * self.up(normed))

  class Model(nn.Module):

    def __init__(self):
      super().__init__()
      self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
      self.blocks = nn.ModuleList([Block() for _ in range(cfg.n_layers)])
      self.final_norm = nn.RMSNorm(cfg.d_model, eps=cfg.norm_eps)

    def forward(self, tokens):
      x = self.embed(tokens)
      for block in self.blocks:
        x = block(x)
      return self.final_norm(x) @ self.embed.weight.T

  torch.manual_seed(0)
  model = Model()
  decayed = [p for p in model.parameters() if p.ndim >= 2]
  others = [p for p in model.parameters() if p.ndim < 2]
  adamw = torch.optim.AdamW(
      [{"params": decayed, "weight_decay": optimizer_config.weight_decay},
       {"params": others, "weight_decay": 0.0}],
      lr=optimizer_config.peak_learning_rate, betas=(optimizer_config.b1, optimizer_config.b2),
      eps=optimizer_config.eps)
  tokens = torch.from_numpy(np.asarray(batch_BxT, np.int64))
  inputs, targets = tokens[:, :-1], tokens[:, 1:]
  autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.dtype == "bfloat16")

  def run_steps(count: int) -> None:
    for _ in range(count):
      with autocast:
        logits = model(inputs)
      loss = functional.cross_entropy(logits.float().flatten(0, 1), targets.flatten())
      adamw.zero_grad(set_to_none=True)
      loss.backward()
      torch.nn.utils.clip_grad_norm_(model.parameters(), optimizer_config.grad_clip_norm)
      adamw.step()
    float(loss.detach())
    return count

  return run_steps


_WRAPPER_EVENTS = ("ThunkExecutor", "SlinkyThreadPool", "ThreadpoolListener", "end:")
# PyTorch ops that run matrix products (the attention kernels include their softmax).
_TORCH_MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::bmm",
                     "aten::_scaled_dot_product_flash_attention_for_cpu",
                     "aten::_scaled_dot_product_flash_attention_for_cpu_backward")


def _union_seconds(intervals: list[tuple[int, int]]) -> float:
  """Seconds covered by at least one of the (start_ns, end_ns) intervals."""
  covered, reach = 0, None
  for start, end in sorted(intervals):
    if reach is None or start > reach:
      covered += end - start
      reach = end
    elif end > reach:
      covered += end - reach
      reach = end
  return covered / 1e9


def dot_fusions(compiled_hlo: str) -> dict[str, str]:
  """The instructions of an XLA:CPU executable that compute a dot or a convolution (plain ops
  and fusions, YNNPACK, XNNPACK or loop, whose fused computation holds one), each mapped to
  'backward' when its source op lies under a transpose of a JVP (the backward pass), else to
  'forward'."""
  bodies = dict(re.findall(r"\n%?([\w.\-]+) [^\n]*\{\n(.*?)\n\}", compiled_hlo, re.S))
  with_dot = {name for name, body in bodies.items() if re.search(r" (dot|convolution)\(", body)}
  passes = {}
  for line in compiled_hlo.split("\n"):
    match = re.match(r"\s*(?:ROOT )?%([\w.\-]+) = .*", line)
    if not match:
      continue
    called = re.search(r"calls=%([\w.\-]+)", line)
    if re.search(r" (dot|convolution)\(", line) or (called and called.group(1) in with_dot):
      op_name = re.search(r'op_name="([^"]*)"', line)
      passes[match.group(1)] = ("backward" if op_name and "transpose(" in op_name.group(1)
                                else "forward")
  return passes


def xla_breakdown(run_window, steps: int, matmul_ops: dict[str, str]) -> dict[str, float]:
  """Traces one window of `steps` steps with jax.profiler. Returns seconds per step of wall time
  during which at least one forward (`forward`) or backward (`backward`) matmul op of
  `dot_fusions` runs on XLA's CPU worker threads, and during which any op runs (`busy`); plus
  `largest_other`, the two largest other op kinds by their share of the other ops' time."""
  import collections  # pylint: disable=g-import-not-at-top
  import pathlib  # pylint: disable=g-import-not-at-top
  import tempfile  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as directory:
    jax.profiler.start_trace(directory)
    run_window()
    jax.profiler.stop_trace()
    trace = next(pathlib.Path(directory).rglob("*.xplane.pb"))
    profile = jax.profiler.ProfileData.from_file(str(trace))
  intervals = collections.defaultdict(list)
  others = collections.Counter()
  for plane in profile.planes:
    for line in plane.lines:
      if not line.name.startswith("tf_XLAEigen"):
        continue
      for event in line.events:
        if event.name.startswith(_WRAPPER_EVENTS):
          continue
        intervals["busy"].append((event.start_ns, event.end_ns))
        if event.name in matmul_ops:
          intervals[matmul_ops[event.name]].append((event.start_ns, event.end_ns))
        else:
          others[event.name.split(".")[0]] += event.duration_ns
  total_other = sum(others.values()) or 1
  largest = ", ".join(f"{kind} {100 * value / total_other:.0f}%"
                      for kind, value in others.most_common(2))
  split = {key: _union_seconds(intervals[key]) / steps for key in ("forward", "backward", "busy")}
  return dict(split, largest_other=f"{largest} of the rest")


def torch_breakdown(run_window, steps: int) -> dict[str, float]:
  """Profiles one window of the peer with torch.profiler. Returns seconds per step in matrix
  products (`_TORCH_MATMUL_OPS`, self time: each runs its own threads inside) of the forward
  (`forward`) and of the backward pass (`backward`: run by the autograd engine), and in all ops
  (`busy`)."""
  import torch  # pylint: disable=g-import-not-at-top
  with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
    run_window()
  split = dict(forward=0.0, backward=0.0, busy=0.0)
  for event in profile.events():
    split["busy"] += event.self_cpu_time_total
    if event.name not in _TORCH_MATMUL_OPS:
      continue
    parent, backward = event.cpu_parent, False
    while parent is not None and not backward:
      backward = parent.name.startswith("autograd::engine::evaluate_function")
      parent = parent.cpu_parent
    split["backward" if backward else "forward"] += event.self_cpu_time_total
  return {key: value / 1e6 / steps for key, value in split.items()}


def _split_text(split: dict[str, float]) -> str:
  return (f"{1e3 * split['forward']:.0f} + {1e3 * split['backward']:.0f} / "
          f"{1e3 * split['busy']:.0f}")


def _machine() -> str:
  lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
  fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
  model = fields.get("Model name", platform.processor()).strip()
  family = fields.get("CPU family", "?").strip()
  return f"{model} (CPU family {family}), {fields.get('CPU(s)', '?').strip()} CPUs"


def main(argv: list[str]) -> None:
  del argv
  versions = f"jax {jax.__version__}"
  if _PEER.value == "torch":
    versions += f", torch {torch_version()}"
  print(f"### {datetime.date.today()} - {_machine()} - {versions}\n")
  print(f"Batch {_BATCH.value} x seq {_SEQ_LEN.value}, vocab {_VOCAB.value}, AdamW, best of "
        f"{_WINDOWS.value} windows of {_STEPS.value} steps; the fp32 matmul peak is measured "
        f"just before each row (the machine's load changes).\n")
  header = "| size | N non-emb | dtype | steps/call | peak GFLOP/s | tokens/s | MFU |"
  if _PEER.value:
    header += " peer tokens/s | ours / peer |"
  if _PROFILE.value:
    header += " ours: fwd + bwd matmul / busy ms per step | ours: largest other ops |"
    if _PEER.value:
      header += " peer: fwd + bwd matmul / busy ms per step |"
  print(header)
  print("|" + "---|" * (header.count("|") - 1))
  rng = np.random.default_rng(0)
  for size in _SIZES.value:
    for dtype, per_call in itertools.product(_DTYPES.value, map(int, _PER_CALL.value)):
      config = run_config(size, dtype)
      model_config = ModelConfig.from_config_dict(config.model)
      flops = counting.flops_per_token(model_config)["exact_no_embedding"]
      batch = rng.integers(0, _VOCAB.value, (_BATCH.value, _SEQ_LEN.value + 1), np.int32)
      tokens = _BATCH.value * _SEQ_LEN.value
      run_steps = jax_runner(config, batch, per_call)
      peak = metrics.measured_matmul_peak.__wrapped__()
      ours = tokens / best_seconds_per_step(run_steps, _WINDOWS.value, _STEPS.value)
      row = (f"| {size} | {counting.param_counts(model_config)['non_embedding']:,} | {dtype} | "
             f"{per_call} | {peak / 1e9:.0f} | {ours:,.0f} | {100 * flops * ours / peak:.1f}% |")
      if _PEER.value == "torch":
        peer_steps = torch_runner(model_config, config.optimizer, batch)
        peer = tokens / best_seconds_per_step(peer_steps, _WINDOWS.value, _STEPS.value)
        row += f" {peer:,.0f} | {ours / peer:.2f} |"
      if _PROFILE.value:
        split = xla_breakdown(lambda: run_steps(_STEPS.value), _STEPS.value,
                              dot_fusions(run_steps.compiled_hlo()))
        row += f" {_split_text(split)} | {split['largest_other']} |"
        if _PEER.value == "torch":
          split = torch_breakdown(lambda: peer_steps(_STEPS.value), _STEPS.value)
          row += f" {_split_text(split)} |"
      print(row, flush=True)


if __name__ == "__main__":
  app.run(main)
