"""Variable projection against the 5-D multi-start search, on every shared dataset.

  python benchmarks/projection.py [--append_to=BENCHMARKS.md]

Fits the Chinchilla form L(N, D) = E + A / N^alpha + B / D^beta (Huber delta 1e-3 on log-loss
residuals, the default bounds, uniform weights: `FitOptions()`) with both searches of
`FitOptions.search`, on the shared datasets of `benchmarks/heldout_data.py` that have no
repeated data (its docstring gives their sources and conventions): Epoch's Chinchilla points,
Gadre et al. 2024's four, Porian et al. 2024's 15 settings and the OLMo-2 ladder's final c4_en
losses.
Each fit is timed warm (median of `--repeats` calls after one that compiles). Prints a
markdown section: the optimum of each search (objective and parameters), the wall times and the
condition numbers of the Hessian at the optimum (5-D raw and natural coordinates, 2-D profile).
"""
import datetime
from importlib import metadata
import os
import pathlib
import platform
import sys
import time

from absl import app
from absl import flags
import numpy as np

from analysis.fitting import options as fit_options
from analysis.fitting import projection
import heldout_data  # beside this script
import host  # benchmarks/host.py, beside this script

_SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
_DATA = flags.DEFINE_string("data", str(_SHARED), "the shared data folder")
_REPEATS = flags.DEFINE_integer("repeats", 3, "timed warm calls of each fit")
_APPEND_TO = flags.DEFINE_string("append_to", "", "markdown file to append the section to")


def _timed_fit(options, n, d, loss):
  """(result, median warm wall seconds), after one call that compiles."""
  weights = np.ones(loss.size)
  fit_options.fit(options, dict(n=n, d=d), loss, weights)
  times, result = [], None
  for _ in range(_REPEATS.value):
    started = time.perf_counter()
    result = fit_options.fit(options, dict(n=n, d=d), loss, weights)
    times.append(time.perf_counter() - started)
  return result, float(np.median(times))


def _params(result) -> str:
  return ", ".join(f"{k} {v:.6g}" for k, v in result.params.items())


def main(argv):
  del argv
  root = pathlib.Path(_DATA.value)
  datasets = {name: tuple(dataset.runs[k] for k in ("n", "d", "loss"))
              for loader in (heldout_data.chinchilla, heldout_data.gadre, heldout_data.porian,
                             heldout_data.olmo_ladder)
              for name, dataset in loader(root).items()}
  load_before = os.getloadavg()[0]
  lines, verdicts = [], []
  for name, (n, d, loss) in datasets.items():
    results = {}
    for search in ("multistart", "projection"):
      result, seconds = _timed_fit(fit_options.FitOptions(search=search), n, d, loss)
      results[search] = (result, seconds, projection.conditioning(result, dict(n=n, d=d), loss))
    (multi, multi_s, multi_k), (proj, proj_s, _) = (results[k] for k in results)
    print(f"{name}: {multi_s:.3f} s, {proj_s:.3f} s", file=sys.stderr)
    relative = (proj.objective - multi.objective) / multi.objective
    parameter = max(abs(proj.params[k] - v) / max(abs(v), abs(proj.params[k]), 1e-300)
                    for k, v in multi.params.items())
    verdicts.append((relative <= 1e-9, proj_s < multi_s))
    lines.append(
        f"| {name} | {loss.size} | {multi.objective:.10g} | {proj.objective:.10g} | "
        f"{relative:+.1e} | {parameter:.1e} | {multi_s:.3f} s | {proj_s:.3f} s | "
        f"{multi_k['raw']:.2e} | {multi_k['natural']:.2e} | {multi_k['profile']:.3g} | "
        f"{'yes' if multi.converged and proj.converged else 'no'} |")
    lines.append(f"|   params | | {_params(multi)} | {_params(proj)} | | | | | | | | |")
  load_after = os.getloadavg()[0]
  as_good = all(v[0] for v in verdicts)
  faster = all(v[1] for v in verdicts)
  versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("jax", "numpy", "scipy"))
  section = "\n".join([
      f"\n## Variable projection against the 5-D multi-start search "
      f"({datetime.date.today().isoformat()})\n",
      f"Machine: {host.cpu_model()}, {os.cpu_count()} cores (shared; load average "
      f"{load_before:.1f} at the start, {load_after:.1f} at the end). Python "
      f"{platform.python_version()}, {versions}. Command: `python benchmarks/projection.py "
      f"--repeats={_REPEATS.value}`. Form chinchilla, Huber delta 1e-3 on log-loss residuals, "
      f"default bounds, uniform weights; times are warm medians of {_REPEATS.value} calls. "
      "Condition numbers are of the objective's Hessian at the multi-start optimum over the "
      "parameters not at a bound: 5-D raw (log E, log A, log B, alpha, beta), 5-D natural "
      "(E, A, B, alpha, beta), and the 2-D profile over (alpha, beta) (Schur complement).\n",
      "| data | points | objective, multistart | objective, projection | relative difference "
      "| largest relative parameter difference | wall, multistart | wall, projection "
      "| cond 5-D raw | cond 5-D natural | cond 2-D profile | both converged |",
      "|---|---|---|---|---|---|---|---|---|---|---|---|",
      *lines, "",
      f"Projection at least as good everywhere (objective within 1e-9 relative): "
      f"{'yes' if as_good else 'no'}; faster everywhere: {'yes' if faster else 'no'}. "
      f"Default: {'projection' if as_good and faster else 'multistart'} "
      f"(`FitOptions.search`).\n"])
  host.publish(section, _APPEND_TO.value)


if __name__ == "__main__":
  app.run(main)
