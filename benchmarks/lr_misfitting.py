"""The learning-rate law of the (Mis)Fitting open_lm runs: optima per size, LR*(N) and LR*(N, D).

  python benchmarks/lr_misfitting.py [--append_to=BENCHMARKS.md]

Data: misfitting2025/scaling_results.csv (M. Li, S. Kudugunta, L. Zettlemoyer, ICLR 2025,
arXiv:2502.18969): final checkpoints (`portion_steps_elapsed` = 1) of open_lm runs of 11 sizes,
each trained on several budgets D (`train_tokens`) at up to 5 peak learning rates. N is
`N_no_emb` (non-embedding parameters), loss the C4 eval loss (nats/token).

The fits are `scaling.lr_fit`'s, the ones a sweep's learning-rate search uses:
  * per size: one log-quadratic in ln(peak LR) over all its budgets, one intercept per D (the
    budgets share the curvature and the optimum), with a 95% interval from the fit's
    covariance; sizes with fewer than 3 learning rates are left out;
  * LR*(N) over the per-size optima that are interior to their grid;
  * LR*(N, D) over the per-(N, D) optima of the cells with 3 or more learning rates whose
    optimum is interior (a 3-point parabola is exact: no per-cell interval).
The batch size is not varied in these runs (every run of a size uses one batch), so no
batch-size law can be fitted from them.

Rows: a run is (model, train_tokens, peak_lr); exact duplicate rows are dropped, and a
(model, D) cell where one loss value is recorded under two learning rates (some misfitting_17m
cells) is left out as ambiguous.
"""
import collections
import csv
import datetime
from importlib import metadata
import math
import os
import pathlib
import platform

from absl import app
from absl import flags
import numpy as np

from scaling import lr_fit

_SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
FILE = pathlib.Path("misfitting2025") / "scaling_results.csv"
LEVEL = 0.95


def load(path: pathlib.Path) -> tuple[dict[tuple[int, int], list[tuple[float, float]]], int]:
  """{(N non-embedding, D tokens): sorted [(peak lr, final loss)]} of the unambiguous cells, and
  how many cells were left out as ambiguous."""
  cells: dict[tuple[int, int], set[tuple[float, float]]] = collections.defaultdict(set)
  with open(path, newline="") as handle:
    for row in csv.DictReader(handle):
      if float(row["portion_steps_elapsed"]) == 1.0:
        cells[(int(float(row["N_no_emb"])), int(float(row["train_tokens"])))].add(
            (float(row["peak_lr"]), float(row["loss"])))
  kept, ambiguous = {}, 0
  for key, points in cells.items():
    losses = [loss for _, loss in points]
    rates = [rate for rate, _ in points]
    if len(set(losses)) < len(losses) or len(set(rates)) < len(rates):
      ambiguous += 1
      continue
    kept[key] = sorted(points)
  return kept, ambiguous


def size_optima(cells: dict[tuple[int, int], list[tuple[float, float]]]
                ) -> dict[int, lr_fit.Optimum]:
  """Each size's optimum over all its budgets (one intercept per D); sizes with < 3 LRs out."""
  by_size: dict[int, list[tuple[float, float, int]]] = collections.defaultdict(list)
  for (n, d), points in cells.items():
    by_size[n].extend((rate, loss, d) for rate, loss in points)
  optima = {}
  for n, points in sorted(by_size.items()):
    if len({rate for rate, _, _ in points}) < 3:
      continue
    optima[n] = lr_fit.fit_optimum([p[0] for p in points], [p[1] for p in points],
                                   groups=[p[2] for p in points], level=LEVEL)
  return optima


def cell_optima(cells: dict[tuple[int, int], list[tuple[float, float]]]
                ) -> dict[tuple[int, int], lr_fit.Optimum]:
  """The optimum of every (N, D) cell with 3 or more learning rates whose optimum is interior."""
  optima = {}
  for key, points in sorted(cells.items()):
    if len(points) >= 3:
      optimum = lr_fit.fit_optimum([p[0] for p in points], [p[1] for p in points], level=LEVEL)
      if not optimum.edge:
        optima[key] = optimum
  return optima


def laws(cells: dict[tuple[int, int], list[tuple[float, float]]]
         ) -> tuple[dict[int, lr_fit.Optimum], lr_fit.LearningRateLaw,
                    dict[tuple[int, int], lr_fit.Optimum], lr_fit.LearningRateLaw]:
  """Per-size optima, LR*(N) over the interior ones, per-cell optima and LR*(N, D)."""
  sizes = size_optima(cells)
  interior = {n: optimum for n, optimum in sizes.items() if not optimum.edge}
  law_n = lr_fit.fit_law(list(interior), [o.learning_rate for o in interior.values()],
                         level=LEVEL)
  per_cell = cell_optima(cells)
  law_nd = lr_fit.fit_law([n for n, _ in per_cell], [o.learning_rate for o in per_cell.values()],
                          d=[d for _, d in per_cell], level=LEVEL)
  return sizes, law_n, per_cell, law_nd


def _interval(pair) -> str:
  return "-" if not np.all(np.isfinite(pair)) else f"({pair[0]:.3g}, {pair[1]:.3g})"


def _optimum(optimum: lr_fit.Optimum) -> tuple[str, str]:
  """The optimum and its interval as printed: a bound when the vertex lies beyond the grid."""
  if optimum.vertex > math.log(max(optimum.learning_rates)):
    return f"> {max(optimum.learning_rates):g}", "-"
  if optimum.vertex < math.log(min(optimum.learning_rates)):
    return f"< {min(optimum.learning_rates):g}", "-"
  return f"{optimum.learning_rate:.3g}", _interval(optimum.interval)


def main(argv):
  del argv
  import host  # pylint: disable=import-outside-toplevel  (benchmarks/host.py, beside this script)
  cells, ambiguous = load(pathlib.Path(_DATA.value) / FILE)
  sizes, law_n, per_cell, law_nd = laws(cells)
  budgets = collections.Counter(n for n, _ in cells)
  rows = [f"| {n / 1e6:.1f}M | {budgets[n]} | "
          f"{', '.join(f'{rate:g}' for rate in sorted(set(optimum.learning_rates)))} | "
          f"{' | '.join(_optimum(optimum))} | {optimum.edge or '-'} | {law_n(n):.3g} |"
          for n, optimum in sizes.items()]
  versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("numpy", "scipy"))
  section = "\n".join([
      f"\n## Learning-rate law of the (Mis)Fitting open_lm runs "
      f"({datetime.date.today().isoformat()})\n",
      f"Machine: {host.cpu_model()}, {os.cpu_count()} cores (shared). Python "
      f"{platform.python_version()}, {versions}. Command: `python benchmarks/lr_misfitting.py`. "
      f"Data: {FILE} (Li, Kudugunta, Zettlemoyer 2025), final checkpoints, N non-embedding "
      f"(`N_no_emb`), D = `train_tokens`, loss = C4 eval loss (nats/token); {len(cells)} "
      f"(N, D) cells kept, {ambiguous} left out as ambiguous (one loss under two learning "
      "rates). Per size: a log-quadratic in ln(peak LR) over all its budgets with one "
      "intercept per D (`scaling.lr_fit.fit_optimum`), 95% interval from the fit's "
      "covariance.\n",
      "| size (N non-emb) | budgets | peak LRs tried | optimum | 95% interval | at edge | "
      "LR*(N) law |",
      "|---|---|---|---|---|---|---|",
      *rows, "",
      f"LR*(N) = {law_n.coefficient:.3g} x N^{law_n.n_exponent:.3f} (exponent 95% interval "
      f"{_interval(law_n.n_exponent_interval)}, {law_n.n_points} sizes with an interior "
      f"optimum). LR*(N, D) over the {law_nd.n_points} (N, D) cells with 3 or more learning "
      f"rates and an interior optimum: {law_nd.coefficient:.3g} x N^{law_nd.n_exponent:.3f} "
      f"{_interval(law_nd.n_exponent_interval)} x D^{law_nd.d_exponent:.3f} "
      f"{_interval(law_nd.d_exponent_interval)} (Step Law, Li et al. 2025: N^-0.713 D^0.307). "
      "The learning-rate grid is coarse (x2-2.5 steps, mostly 3 values per cell), so these "
      "exponents are rough. No batch-size law: the runs do not vary the batch size.\n"])
  host.publish(section, _APPEND_TO.value)


if __name__ == "__main__":
  # Flags only when run as a script: the tests import the functions above with other flags.
  _DATA = flags.DEFINE_string("data", str(_SHARED), "the shared data folder")
  _APPEND_TO = flags.DEFINE_string("append_to", "", "markdown file to append the section to")
  app.run(main)
