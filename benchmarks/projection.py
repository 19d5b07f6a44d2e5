"""Variable projection against the 5-D multi-start search, on every shared dataset.

  python benchmarks/projection.py [--append_to=BENCHMARKS.md]

Fits the Chinchilla form L(N, D) = E + A / N^alpha + B / D^beta (Huber delta 1e-3 on log-loss
residuals, the default bounds, uniform weights: `FitOptions()`) with both searches of
`FitOptions.search`, on:
- Epoch's Chinchilla points (../shared/data/chinchilla_epoch, 240 less the 5 highest losses);
- Gadre et al. 2024 (gadre2024_overtraining/models_flat.csv), `loss_openlm` of each of the
  three training sets, N = params, D = tokens;
- Porian et al. 2024 (porian2024_resolving/isoflop_points.csv), each of the 15 settings
  (`file`/`row`), N = n, D = t;
- the OLMo-2 ladder (olmo_ladder/peteish-moreeval): the last c4_en validation loss of each
  `<size>-<k>xC.csv` run (reruns left out), N from OLMo's MODEL_PARAMS, D = total tokens.
Each fit is timed warm (median of `--repeats` calls after one that compiles). Prints a
markdown section: the optimum of each search (objective and parameters), the wall times and the
condition numbers of the Hessian at the optimum (5-D raw and natural coordinates, 2-D profile).
"""
import csv
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
import host  # benchmarks/host.py, beside this script
import scipy_chinchilla  # beside this script

_SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
_DATA = flags.DEFINE_string("data", str(_SHARED), "the shared data folder")
_REPEATS = flags.DEFINE_integer("repeats", 3, "timed warm calls of each fit")
_APPEND_TO = flags.DEFINE_string("append_to", "", "markdown file to append the section to")
# Non-embedding parameters of the OLMo-2 ladder sizes (allenai/OLMo scripts/ladder_peteish.py).
_OLMO_PARAMS = {"190M": 190354176, "370M": 371262464, "760M": 758220288, "1B": 1279395840,
                "3B": 3169537280}


def _chinchilla(root: pathlib.Path) -> dict[str, tuple[np.ndarray, ...]]:
  return {"chinchilla (Epoch)": scipy_chinchilla.load_epoch(
      root / "chinchilla_epoch" / "svg_extracted_data.csv")}


def _gadre(root: pathlib.Path) -> dict[str, tuple[np.ndarray, ...]]:
  with open(root / "gadre2024_overtraining" / "models_flat.csv") as f:
    rows = list(csv.DictReader(f))
  sets = {}
  for dataset in sorted({r["dataset"] for r in rows}):
    chosen = [r for r in rows if r["dataset"] == dataset]
    sets[f"gadre {dataset} loss_openlm"] = tuple(
        np.array([float(r[k]) for r in chosen]) for k in ("params", "tokens", "loss_openlm"))
  return sets


def _porian(root: pathlib.Path) -> dict[str, tuple[np.ndarray, ...]]:
  with open(root / "porian2024_resolving" / "isoflop_points.csv") as f:
    rows = [r for r in csv.DictReader(f) if r["loss"]]
  sets = {}
  for key in dict.fromkeys((r["file"], r["row"]) for r in rows):
    chosen = [r for r in rows if (r["file"], r["row"]) == key]
    first = chosen[0]
    label = "/".join(first[k] for k in ("dataset", "hparams", "warmup", "decay", "param_count",
                                        "loss_source"))
    sets[f"porian {label}"] = tuple(
        np.array([float(r[k]) for r in chosen]) for k in ("n", "t", "loss"))
  return sets


def _olmo(root: pathlib.Path) -> dict[str, tuple[np.ndarray, ...]]:
  n, d, loss = [], [], []
  for path in sorted((root / "olmo_ladder" / "peteish-moreeval").glob("*xC.csv")):
    size = path.name.split("-")[0]
    with open(path) as f:
      rows = [r for r in csv.DictReader(f) if r["eval/c4_en-validation/CrossEntropyLoss"]]
    n.append(_OLMO_PARAMS[size])
    d.append(float(rows[-1]["throughput/total_tokens"]))
    loss.append(float(rows[-1]["eval/c4_en-validation/CrossEntropyLoss"]))
  return {"olmo ladder c4_en": tuple(np.array(x, np.float64) for x in (n, d, loss))}


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
  datasets = {**_chinchilla(root), **_gadre(root), **_porian(root), **_olmo(root)}
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
