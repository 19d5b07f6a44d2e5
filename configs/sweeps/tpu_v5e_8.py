"""TPU v5e-8 preset (one host, 8 chips): an IsoFLOP sweep from ~20M to ~600M non-embedding
parameters.

  python -m scaling --config=configs/sweeps/tpu_v5e_8.py:corpus=gs://bucket/text/*.jsonl \
      --workdir=SWEEP

on the host itself (the local backend; each run one process over its 8 chips). On a Ray
cluster of several v5e-8 hosts, each declaring its chips (`ray start ... --resources='{"TPU":
8}'`), add `--backend=ray --ray_address=HEAD:6379`: each run is one task holding one host's 8
chips (`sweep.launch.resources`), so the hosts train different runs at once.

Mesh: data=1, fsdp=8, tensor=1 (parameters and optimizer state sharded over the 8 chips, batch
over all 8). Batch: 256 sequences x 1024 tokens = 262,144 tokens per step. Budgets: 1e18, 3e18 and
1e19 training FLOPs (C = 6ND, N non-embedding), 5 sizes each.
Expected sweep compute: 7.0e19 FLOPs (6ND); about 12 hours at 40% of 8 x 197 TFLOP/s bf16.
"""
import ml_collections

from configs import parse
from configs.sweeps import accelerator


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = parse.parse_arg(arg, corpus="")
  sweep = accelerator.isoflop_sweep(
      name="tpu_v5e_8", corpus=variant.corpus, compute_budgets=(1e18, 3e18, 1e19),
      size_span=3.0, batch_size=256, seq_len=1024, mesh=dict(data=1, fsdp=8, tensor=1))
  sweep.launch.update(resources={"TPU": 8})
  return sweep
