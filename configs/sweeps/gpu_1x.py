"""Single-GPU preset (one A100 / H100, 80 GB): an IsoFLOP sweep from ~7M to ~400M non-embedding
parameters.

  python -m scaling --config=configs/sweeps/gpu_1x.py:corpus=/data/text/*.jsonl --workdir=SWEEP

Mesh: data=1, fsdp=1, tensor=1 (one device). Batch: 64 sequences x 1024 tokens = 65,536 tokens per
step. Budgets: 1e17, 3e17 and 1e18 training FLOPs (C = 6ND, N non-embedding), 5 sizes each.
Expected sweep compute: 7.0e18 FLOPs (6ND); about 5 hours on one H100 at 40% of its 989 TFLOP/s
dense bf16 peak.
"""
import ml_collections

from configs import parse
from configs.sweeps import accelerator


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = parse.parse_arg(arg, corpus="")
  return accelerator.isoflop_sweep(
      name="gpu_1x", corpus=variant.corpus, compute_budgets=(1e17, 3e17, 1e18), size_span=4.0,
      batch_size=64, seq_len=1024, mesh=dict(data=1, fsdp=1, tensor=1))
