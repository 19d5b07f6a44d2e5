"""Wall time of the tiny sweep on the local backend, and where it goes.

  python benchmarks/tiny_sweep.py [--max_parallel=2] [--append=BENCHMARKS.md]

Runs `configs/sweeps/tiny.py` in a temporary directory and reports the sweep's wall time (the
acceptance target: under five minutes on 2 CPU cores), the per-run wall seconds, and the share of
each run spent training (tokens / tokens per second) rather than starting up (imports, data,
compile, checkpoints, evaluation). Prints a markdown section; `--append` adds it to a file.
"""
import datetime
import os
import pathlib
import platform
import statistics
import tempfile
import time

from absl import app, flags

import jax
import ray

from configs.sweeps import tiny
from records.status import RunStatus
from scaling import estimate, launch

import host  # benchmarks/host.py, beside this script

_MAX_PARALLEL = flags.DEFINE_integer("max_parallel", 2, "runs at a time")
_APPEND = flags.DEFINE_string("append", "", "markdown file to append the section to")


def main(argv: list[str]) -> None:
  del argv
  with tempfile.TemporaryDirectory(prefix="tiny-sweep-") as workdir, open(os.devnull, "w") as sink:
    start = time.time()
    launch.launch(tiny.get_config(), pathlib.Path(workdir), max_parallel=_MAX_PARALLEL.value,
                  stream=sink)
    wall = time.time() - start
    results = estimate.finished_results(pathlib.Path(workdir))
  walls = [result["wall_seconds"] for result in results]
  training = [result["tokens"] / result["tokens_per_second"] for result in results]
  load = os.getloadavg()[0]
  section = f"""
## Tiny sweep on the local backend ({datetime.date.today()})

Machine: {host.cpu_model()}, {os.cpu_count()} cores (shared; load average {load:.1f} at the end).
Python {platform.python_version()}, jax {jax.__version__}, ray {ray.__version__}.
Command: `python benchmarks/tiny_sweep.py --max_parallel={_MAX_PARALLEL.value}`.

| what | value |
|---|---|
| runs (completed) | {len(results)} ({sum(r['status'] == RunStatus.COMPLETED for r in results)}) |
| sweep wall time (target: < 300 s) | {wall:.1f} s |
| run wall time, median (min-max) | {statistics.median(walls):.1f} s \
({min(walls):.1f}-{max(walls):.1f}) |
| share of run wall time spent in train steps | {sum(training) / sum(walls):.0%} |
"""
  host.publish(section, _APPEND.value)


if __name__ == "__main__":
  app.run(main)
