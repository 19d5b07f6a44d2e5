"""One grid trained twice: as independent cosine runs and as WSD trunks with cooldown branches.

  python benchmarks/branching.py [--max_parallel=2] [--resamples=200] [--append=BENCHMARKS.md]

The grid is `configs/sweeps/ladder_tiny.py` widened to 4 sizes x 4 budgets (tokens per
non-embedding parameter). Both sweeps run in this process, one after the other, on the local
backend. Reported: training FLOPs (exact, what the sweep trains) and wall time of each; the
Chinchilla law L(N, D) = E + A/N^alpha + B/D^beta fitted to each (Huber on log loss, bounded,
as Approach 3 does), with 95% bootstrap intervals (the ladder's resampling whole trunks); and the
loss of every matched (N, D) point under both. Prints a markdown section; `--append` adds it to a
file.
"""
import datetime
import os
import pathlib
import platform
import tempfile
import time

import jax
import numpy as np
from absl import app, flags

from analysis.fitting import options as options_lib
from configs.sweeps import ladder_tiny
from records import layout
from records import results_csv
from scaling import launch

import host  # benchmarks/host.py, beside this script

_MAX_PARALLEL = flags.DEFINE_integer("max_parallel", 2, "runs at a time")
_RESAMPLES = flags.DEFINE_integer("resamples", 200, "bootstrap refits per law")
_APPEND = flags.DEFINE_string("append", "", "markdown file to append the section to")

SIZES = (10_000, 20_000, 40_000, 80_000)
TOKENS_PER_PARAM = (2.0, 4.0, 8.0, 16.0)
Column = results_csv.Column
PARAMETERS = ("E", "A", "B", "alpha", "beta", "a", "b")


def _sweep(kind: str):
  sweep = ladder_tiny.get_config()
  sweep.name = f"branching_{kind}"
  sweep.grid.update(kind=kind, sizes=SIZES, tokens_per_param=TOKENS_PER_PARAM)
  return sweep


def _train(kind: str, workdir: pathlib.Path) -> tuple[float, list[dict]]:
  """Launches the sweep; returns its wall seconds and its results.csv rows."""
  start = time.time()
  with open(os.devnull, "w") as sink:
    outcome = launch.launch(_sweep(kind), workdir, max_parallel=_MAX_PARALLEL.value,
                            stream=sink)
  if outcome.exit_code:
    raise RuntimeError(f"the {kind} sweep ended with exit code {outcome.exit_code}; see "
                       f"`python -m scaling status --workdir={workdir}`")
  table = results_csv.read_results(workdir / layout.RESULTS_FILE)
  columns = [column for column in results_csv.COLUMNS if column in table.header]
  rows = [dict(zip(columns, values))
          for values in zip(*(table.values(column) for column in columns))]
  return time.time() - start, rows


def _fit(rows: list[dict], groups: np.ndarray | None) -> dict[str, tuple[float, float, float]]:
  """name -> (fitted value, 95% low, 95% high) of the Chinchilla law on `rows`."""
  options = options_lib.FitOptions()
  inputs = dict(n=np.array([row[Column.N_PARAMS_NON_EMBEDDING] for row in rows], float),
                d=np.array([row[Column.TOKENS] for row in rows], float))
  loss = np.array([row[Column.FINAL_EVAL_LOSS] for row in rows], float)
  weights = np.ones_like(loss)
  fitted = options_lib.fit(options, inputs, loss, weights)
  resampled = options_lib.resample(fitted, inputs, loss, weights, n_resamples=_RESAMPLES.value,
                                   level=0.95, seed=0, groups=groups)
  params = dict(fitted.params)
  alpha, beta = params["alpha"], params["beta"]
  params.update(a=beta / (alpha + beta), b=alpha / (alpha + beta))
  return {name: (params[name], *resampled.ci[name]) for name in PARAMETERS}


def main(argv: list[str]) -> None:
  del argv
  with tempfile.TemporaryDirectory(prefix="branching-") as workdir:
    workdir = pathlib.Path(workdir)
    cosine_seconds, cosine = _train("n_by_d", workdir / "cosine")
    ladder_seconds, ladder = _train("ladder", workdir / "ladder")
  cosine_flops = sum(row[Column.FLOPS_SPENT] or row[Column.FLOPS_EXACT] for row in cosine)
  ladder_flops = sum(row[Column.FLOPS_SPENT] for row in ladder)
  trunks = np.array([row[Column.TRUNK_ID] for row in ladder])
  cosine_fit, ladder_fit = _fit(cosine, None), _fit(ladder, trunks)
  matched = {(row[Column.N_PARAMS_NON_EMBEDDING], row[Column.TOKENS]):
             row[Column.FINAL_EVAL_LOSS] for row in cosine}
  differences = []
  for row in ladder:
    key = (row[Column.N_PARAMS_NON_EMBEDDING], row[Column.TOKENS])
    if key in matched:
      differences.append((key, matched[key], row[Column.FINAL_EVAL_LOSS]))
  fit_rows = "\n".join(
      f"| {name} | {cosine_fit[name][0]:.4g} [{cosine_fit[name][1]:.4g}, "
      f"{cosine_fit[name][2]:.4g}] | {ladder_fit[name][0]:.4g} [{ladder_fit[name][1]:.4g}, "
      f"{ladder_fit[name][2]:.4g}] | "
      f"{'yes' if _agree(cosine_fit[name], ladder_fit[name]) else 'no'} |"
      for name in PARAMETERS)
  point_rows = "\n".join(
      f"| {n:,} | {d:,} | {cosine_loss:.4f} | {ladder_loss:.4f} | "
      f"{100 * (ladder_loss / cosine_loss - 1):+.2f}% |"
      for (n, d), cosine_loss, ladder_loss in sorted(differences))
  worst = max(abs(ladder_loss / cosine_loss - 1) for _, cosine_loss, ladder_loss in differences)
  section = f"""
## Branching: independent cosine runs against WSD trunks with cooldown branches \
({datetime.date.today()})

Machine: {host.cpu_model()}, {os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f} at the
end). Python {platform.python_version()}, jax {jax.__version__}.
Command: `python benchmarks/branching.py --max_parallel={_MAX_PARALLEL.value} \
--resamples={_RESAMPLES.value}`. Grid: sizes {', '.join(f'{s:,}' for s in SIZES)} (target
non-embedding parameters) x {', '.join(f'{r:g}' for r in TOKENS_PER_PARAM)} tokens per parameter;
branches decay over the last 20% of D (linear) to the cosine runs' final learning rate.

| sweep | runs | training FLOPs (exact) | wall time |
|---|---|---|---|
| independent cosine runs | {len(cosine)} | {cosine_flops:.4g} | {cosine_seconds:.0f} s |
| trunks + branches | {len(set(trunks))} trunks + {len(ladder)} branches | {ladder_flops:.4g} \
({ladder_flops / cosine_flops:.2f}x) | {ladder_seconds:.0f} s ({ladder_seconds / cosine_seconds:.2f}x) |

Chinchilla fits, value [95% bootstrap interval; the ladder's resamples draw whole trunks]:

| parameter | cosine | ladder | each inside the other's interval |
|---|---|---|---|
{fit_rows}

Matched points (final eval loss, nats/token; largest difference {100 * worst:.2f}%):

| N (non-embedding) | D (tokens) | cosine | ladder | ladder / cosine - 1 |
|---|---|---|---|---|
{point_rows}
"""
  host.publish(section, _APPEND.value)


def _agree(first: tuple[float, float, float], second: tuple[float, float, float]) -> bool:
  """Whether each fitted value lies in the other's interval."""
  return first[1] <= second[0] <= first[2] and second[1] <= first[0] <= second[2]


if __name__ == "__main__":
  app.run(main)
