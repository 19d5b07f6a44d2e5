"""TPU v4-32 / v5p-32 preset (4 hosts, 16 chips): an IsoFLOP sweep from ~80M to ~1B non-embedding
parameters.

  python -m scaling --config=configs/sweeps/tpu_v4_32.py:corpus=gs://bucket/text/*.jsonl \
      --workdir=SWEEP --backend=ray

Each run is one multi-host jax program over the whole slice (jax.distributed.initialize() on
every host). Mesh: data=2, fsdp=8, tensor=1 (16 devices). Batch: 512 sequences x 2048 tokens =
1,048,576 tokens per step. Budgets: 3e18, 1e19 and 3e19 training FLOPs (C = 6ND, N
non-embedding), 5 sizes each.
Expected sweep compute: 2.2e20 FLOPs (6ND); about 35 hours at 40% of 16 x 275 TFLOP/s (v4) or
about 21 hours at 40% of 16 x 459 TFLOP/s (v5p).
"""
import ml_collections

from configs import parse
from configs.sweeps import accelerator


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = parse.parse_arg(arg, corpus="")
  return accelerator.isoflop_sweep(
      name="tpu_v4_32", corpus=variant.corpus, compute_budgets=(3e18, 1e19, 3e19),
      size_span=2.0, batch_size=512, seq_len=2048, mesh=dict(data=2, fsdp=8, tensor=1))
