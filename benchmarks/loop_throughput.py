"""Training-loop throughput (tokens/s) of the demo's model sizes: what a run of the sweep gets.

  python benchmarks/loop_throughput.py [--steps_per_call=1,16] [--tokens=1e6] [--append=FILE]

`benchmarks/train_throughput.py` times the compiled train step alone; this times the whole loop
of a run (`training.loop.train_and_evaluate`: batches from the grain iterator, host-to-device
copies, the step, per-step metrics to TensorBoard, the learning rate logged), on
`configs/sweeps/demo.py`'s runs (its smallest, a middle and its largest size), for `--tokens` tokens
with no evaluation, branch point or checkpoint before the end. tokens/s is the run's own
steady-state figure (result.json `tokens_per_second`, compilation and the final evaluation left
out); wall is the whole call, set-up and compilation included. Each row trains in a new
temporary workdir in this process; the corpus is prepared once, before the first row.
"""
import datetime
import os
import pathlib
import platform
import tempfile

import jax
from absl import app, flags

from configs.sweeps import demo
from scaling import grid
from training import loop

import host  # benchmarks/host.py, beside this script

_PER_CALL = flags.DEFINE_list("steps_per_call", ["1", "16"], "train.steps_per_call values")
_TOKENS = flags.DEFINE_float("tokens", 1e6, "tokens per run (rounded down to whole steps)")
_SIZES = flags.DEFINE_list("sizes", ["850", "7000", "23700"], "demo ladder sizes (targets)")
_APPEND = flags.DEFINE_string("append", "", "markdown file to append the section to")


def run_config(size: str, tokens: float, steps_per_call: int):
  """The demo's run config at ladder size `size`, trained for `tokens` tokens."""
  config = grid.expand(demo.get_config(f"sizes={size},tokens=1e6"))[0].config
  config = config.copy_and_resolve_references()
  tokens_per_step = config.train.batch_size * config.model.seq_len
  train_tokens = int(tokens) // tokens_per_step * tokens_per_step
  config.train.update(train_tokens=train_tokens, branch_point_tokens=(), eval_every_tokens=0,
                      ckpt_every_tokens=train_tokens, log_every_steps=10**9)
  if steps_per_call != 1 or "steps_per_call" in config.train:  # code without the field: 1
    config.train.steps_per_call = steps_per_call
  return config


def main(argv: list[str]) -> None:
  del argv
  rows = []
  with tempfile.TemporaryDirectory(prefix="loop-throughput-") as directory:
    for size in _SIZES.value:
      for row, per_call in enumerate(map(int, _PER_CALL.value)):
        config = run_config(size, _TOKENS.value, per_call)
        workdir = pathlib.Path(directory) / f"{size}-{row}"
        started = datetime.datetime.now()
        result = loop.train_and_evaluate(config, workdir, devices=jax.devices()[:1])
        wall = (datetime.datetime.now() - started).total_seconds()
        rows.append(f"| {result['n_params_non_embedding']:,} | {config.model.d_model} | "
                    f"{per_call} | {result['tokens']:,} | {result['tokens_per_second']:,.0f} | "
                    f"{wall:.1f} | {result['final_eval_loss']:.6f} |")
  section = f"""
## Training-loop throughput of the demo's sizes ({datetime.date.today()})

Machine: {host.cpu_model()}, {os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f} at the
end). Python {platform.python_version()}, jax {jax.__version__}. Command: `python
benchmarks/loop_throughput.py --steps_per_call={','.join(_PER_CALL.value)} --tokens={_TOKENS.value:g}`.

| N non-emb | d_model | steps/call | tokens | loop tokens/s | wall s | final eval loss |
|---|---|---|---|---|---|---|
""" + "\n".join(rows) + "\n"
  host.publish(section, _APPEND.value)


if __name__ == "__main__":
  app.run(main)
