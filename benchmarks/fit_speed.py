"""Benchmark of the Approach-3 fit: JAX multi-start search against a plain scipy loop.

  python benchmarks/fit_speed.py [--resamples=1000] >> BENCHMARKS.md

On Epoch's 240 Chinchilla points (../shared/data/chinchilla_epoch, the 5 highest losses
dropped), in one process:
- a plain scipy loop: L-BFGS-B with numpy analytic gradients from each of the 4500 starts of
  Hoffmann's grid, default tolerances, best objective kept;
- `analysis.fitting.fit.fit(catalogue.CHINCHILLA, ...)` from the same 4500 starts (explore,
  refine, polish; see analysis/fitting/multistart.py): the first call (compilation included),
  then the median of repeated calls;
- `analysis.fitting.bootstrap.bootstrap` with `--resamples` resamples, each refitted from all 4500
  starts.
Prints a markdown section: machine, versions, load average, wall and process CPU seconds, the
speed-up and how far the two optima are apart.
"""
import datetime
from importlib import metadata
import os
import pathlib
import platform
import time

from absl import app
from absl import flags
import numpy as np

from analysis.fitting import bootstrap
from analysis.fitting import fit
from analysis.laws import catalogue
import host  # benchmarks/host.py, beside this script
import scipy_chinchilla  # beside this script

_DATA = flags.DEFINE_string(
    "data", str(pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" /
                "chinchilla_epoch" / "svg_extracted_data.csv"), "Epoch's svg_extracted_data.csv")
_RESAMPLES = flags.DEFINE_integer("resamples", 1000, "bootstrap resamples to time (0: skip)")
_REPEATS = flags.DEFINE_integer("repeats", 5, "timed calls of the warm JAX fit")
_DELTA = 1e-3


def _scipy_loop(n, d, loss) -> tuple[dict[str, float], float, int]:
  """Best of L-BFGS-B from every grid start: (params, objective, starts reaching it)."""
  params, values = scipy_chinchilla.fit(n, d, loss, scipy_chinchilla.hoffmann_grid(), _DELTA)
  return params, float(values.min()), int(np.sum(values <= values.min() * (1 + 1e-9)))


def _timed(function):
  wall, cpu = time.perf_counter(), time.process_time()
  result = function()
  return result, time.perf_counter() - wall, time.process_time() - cpu


def main(argv):
  del argv
  n, d, loss = scipy_chinchilla.load_epoch(_DATA.value)
  inputs = dict(n=n, d=d)
  load_before = os.getloadavg()[0]

  first, first_wall, first_cpu = _timed(lambda: fit.fit(catalogue.CHINCHILLA, inputs, loss))
  runs = [_timed(lambda: fit.fit(catalogue.CHINCHILLA, inputs, loss))
          for _ in range(_REPEATS.value)]
  result = runs[-1][0]
  jax_wall = float(np.median([r[1] for r in runs]))
  jax_cpu = float(np.median([r[2] for r in runs]))
  (scipy_params, scipy_objective, at_best), scipy_wall, scipy_cpu = _timed(
      lambda: _scipy_loop(n, d, loss))
  if _RESAMPLES.value:
    resampled, boot_wall, boot_cpu = _timed(lambda: bootstrap.bootstrap(
        catalogue.CHINCHILLA, inputs, loss, n_resamples=_RESAMPLES.value, seed=0))
  load_after = os.getloadavg()[0]

  versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("jax", "numpy", "scipy"))
  print(f"\n## Approach-3 fit speed ({datetime.date.today().isoformat()})\n")
  print(f"Machine: {host.cpu_model()}, {os.cpu_count()} cores (shared; load average "
        f"{load_before:.1f} at the start, {load_after:.1f} at the end). Python "
        f"{platform.python_version()}, {versions}. Command: `python benchmarks/fit_speed.py "
        f"--resamples={_RESAMPLES.value}`. Data: Epoch's 240 Chinchilla points; Huber delta "
        f"1e-3; 4500 starts (Hoffmann's grid) in every fit.\n")
  print("| what | wall | process CPU | objective |")
  print("|---|---|---|---|")
  print(f"| scipy L-BFGS-B loop over 4500 starts (numpy analytic gradients) | {scipy_wall:.2f} s "
        f"| {scipy_cpu:.2f} s | {scipy_objective:.10f} ({at_best} starts reach it) |")
  print(f"| JAX fit, first call (compilation included) | {first_wall:.2f} s | {first_cpu:.2f} s "
        f"| {first.objective:.10f} |")
  print(f"| JAX fit, warm, median of {_REPEATS.value} | {jax_wall:.3f} s | {jax_cpu:.3f} s | "
        f"{result.objective:.10f} |")
  if _RESAMPLES.value:
    print(f"| bootstrap, {_RESAMPLES.value} resamples, each refitted from 4500 starts "
          f"(target < 120 s) | {boot_wall:.1f} s | {boot_cpu:.1f} s | {resampled.n_failed} "
          f"not converged |")
  relative = {k: abs(result.params[k] / scipy_params[k] - 1) for k in scipy_params}
  print(f"\nSpeed-up of the warm JAX fit over the scipy loop (target >= 50x): "
        f"{scipy_wall / jax_wall:.0f}x wall, {scipy_cpu / jax_cpu:.0f}x process CPU. "
        f"Objective JAX - scipy: {result.objective - scipy_objective:+.2e}; largest relative "
        f"parameter difference {max(relative.values()):.1e} ({max(relative, key=relative.get)}). "
        f"JAX parameters: " + ", ".join(f"{k} {v:.6g}" for k, v in result.params.items()) + ".")
  if _RESAMPLES.value:
    print("Bootstrap 95% intervals: " + ", ".join(
        f"{k} ({lo:.4g}, {hi:.4g})" for k, (lo, hi) in resampled.ci.items()) + ".")


if __name__ == "__main__":
  app.run(main)
