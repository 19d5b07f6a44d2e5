"""Wall time of the demo (`python demo.py`): training, fitting, where the time goes.

  python benchmarks/demo_sweep.py [--workdir=DIR] [--max_parallel=2] [--append=BENCHMARKS.md]

Runs the whole demo into `--workdir` (default: a temporary directory; an existing demo directory
only refits, so pass a fresh one) and reports its wall time against the acceptance target (under
15 minutes on 2 CPU cores, set-up excluded), the time of the fit and report, the per-run wall
seconds and the share of them spent in train steps (tokens / tokens per second) rather than
start-up, compilation, evaluation and checkpoints. Prints a markdown section; `--append` adds it
to a file.
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

import demo
from records.status import RunStatus
from scaling import estimate

import host  # benchmarks/host.py, beside this script

_WORKDIR = flags.DEFINE_string("workdir", "", "demo directory (default: a temporary one)")
_MAX_PARALLEL = flags.DEFINE_integer("max_parallel", 2, "runs at a time")
_APPEND = flags.DEFINE_string("append", "", "markdown file to append the section to")


class _Timed:
  """A stream that records when the line announcing the fit was written."""

  def __init__(self, sink):
    self.sink, self.fit_started = sink, None

  def write(self, text: str) -> int:
    if text.startswith("fitting ") and self.fit_started is None:
      self.fit_started = time.time()
    return self.sink.write(text)

  def flush(self) -> None:
    self.sink.flush()


def _measure(workdir: pathlib.Path) -> dict:
  load_before = os.getloadavg()[0]
  with open(os.devnull, "w") as sink:
    stream = _Timed(sink)
    start = time.time()
    summary = demo.run_demo(workdir, max_parallel=_MAX_PARALLEL.value, stream=stream)
    end = time.time()
  if summary is None:
    raise SystemExit("the demo was interrupted")
  results = estimate.finished_results(workdir)
  return dict(total=end - start, fit=end - stream.fit_started, results=results,
              load=(load_before, os.getloadavg()[0]),
              error=summary["extrapolation"].get("mean_abs_relative_error"))


def main(argv: list[str]) -> None:
  del argv
  if _WORKDIR.value:
    measured = _measure(pathlib.Path(_WORKDIR.value))
  else:
    with tempfile.TemporaryDirectory(prefix="demo-") as workdir:
      measured = _measure(pathlib.Path(workdir))
  results = measured["results"]
  walls = [result["wall_seconds"] for result in results]
  training = [result["tokens"] / result["tokens_per_second"] for result in results]
  error = measured["error"]
  section = f"""
## Demo sweep end to end ({datetime.date.today()})

Machine: {host.cpu_model()}, {os.cpu_count()} cores (shared; load average {measured['load'][0]:.1f} \
at the start, {measured['load'][1]:.1f} at the end). Python {platform.python_version()}, \
jax {jax.__version__}. Command: `python benchmarks/demo_sweep.py \
--max_parallel={_MAX_PARALLEL.value}`.

| what | value |
|---|---|
| runs (completed) | {len(results)} ({sum(r['status'] == RunStatus.COMPLETED for r in results)}) |
| demo wall time (target: < 900 s) | {measured['total']:.0f} s |
| of which fit and report | {measured['fit']:.0f} s |
| run wall time, median (min-max) | {statistics.median(walls):.0f} s \
({min(walls):.0f}-{max(walls):.0f}) |
| share of run wall time spent in train steps | {sum(training) / sum(walls):.0%} |
| held-out extrapolation, mean abs. relative error | \
{'-' if error is None else f'{error:.2%}'} |
"""
  host.publish(section, _APPEND.value)


if __name__ == "__main__":
  app.run(main)
