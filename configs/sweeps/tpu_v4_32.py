"""TPU v4-32 / v5p-32 preset (4 hosts, 16 chips): an IsoFLOP sweep from ~80M to ~1B non-embedding
parameters.

Each run is one multi-host jax program over the whole slice: the Ray backend reserves the slice
(`ray.util.tpu.SlicePlacementGroup`, topology 2x2x4) as one placement group of 4 bundles, one
per host, and starts one train.py per host with JAX_COORDINATOR_ADDRESS (host 0),
JAX_NUM_PROCESSES=4 and JAX_PROCESS_ID. Start Ray on every host of the slice, each declaring
its 4 chips (`ray start --head --resources='{"TPU": 4}'` on host 0, `ray start
--address=HOST0:6379 --resources='{"TPU": 4}'` on hosts 1-3; Ray's TPU detection also labels
the slice), with this project and a shared sweep directory at the same paths everywhere, then
on host 0:

  python -m scaling --config=configs/sweeps/tpu_v4_32.py:corpus=gs://bucket/text/*.jsonl \
      --workdir=/shared/SWEEP --backend=ray --ray_address=HOST0:6379 --dry_run

shows the runs and the gang layout; without --dry_run it trains them, one run per slice at a
time. A v5p-32 slice: `--config=configs/sweeps/tpu_v4_32.py:version=v5p`.

Mesh: data=2, fsdp=8, tensor=1 (16 devices). Batch: 512 sequences x 2048 tokens =
1,048,576 tokens per step (128 sequences per host). Budgets: 3e18, 1e19 and 3e19 training FLOPs
(C = 6ND, N non-embedding), 5 sizes each.
Expected sweep compute: 2.2e20 FLOPs (6ND); about 35 hours at 40% of 16 x 275 TFLOP/s (v4) or
about 21 hours at 40% of 16 x 459 TFLOP/s (v5p).
"""
import ml_collections

from configs import parse
from configs.sweeps import accelerator


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = parse.parse_arg(arg, corpus="", version="v4")
  sweep = accelerator.isoflop_sweep(
      name="tpu_v4_32", corpus=variant.corpus, compute_budgets=(3e18, 1e19, 3e19),
      size_span=2.0, batch_size=512, seq_len=2048, mesh=dict(data=2, fsdp=8, tensor=1))
  sweep.launch.update(hosts_per_run=4, tpu_topology="2x2x4", tpu_version=variant.version)
  return sweep
