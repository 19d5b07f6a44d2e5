"""Published training curves as checkpoint tables (`checkpoints.CheckpointTable`), one loader
per dataset of the shared data folder (../shared/data; its README gives sources and columns).

  table = published_curves.load("misfitting2025", "../shared/data")
  runs = table.select("hitchhiker")        # Observations: trunk_id is each row's curve
  finals = table.select("final")           # one row per run: the fit without checkpoints

Units as everywhere in the analysis: parameters, tokens, nats/token.

* `misfitting2025`: Li et al. 2025, "(Mis)Fitting Scaling Laws" (ICLR 2025), open_lm runs of 11
  sizes (12M-1B) at 5 peak learning rates, cosine schedules, C4 eval loss at checkpoints. A run
  (a curve) is (`model`, `peak_lr`, `sweep`, `total_steps`, `total_epochs`): `train_tokens`
  is the tokens at the checkpoint, not the run's budget, and `total_epochs` (the number of
  evaluations) tells apart runs that a sweep launched with the same other columns. That gives
  253 curves, each ending at `portion_steps_elapsed` 1 (its fraction); 7 curves of one test
  sweep repeat a token count with other losses (launches the columns cannot tell apart) and are
  left out, as are the 2 rows past their schedule's end. Of the curves of one size and budget
  (`total_steps`) the one with the lowest final loss is kept (its learning rate is the best of
  those tried), unless `peak_lr` picks one learning rate. N: `N` (with embeddings) and
  `N_no_emb`.
* `olmo_ladder`: the OLMo-2 'peteish' ladder (allenai/OLMo, branch ladder-1xC; Bhagia et al.
  2024): 5 sizes (190M-3B) x 5 budgets (0.5-10 x 20 N tokens), cosine to 10% of the peak learning
  rate, `<size>-<k>xC.csv` each one curve (the `-rerun` files re-evaluate the 1xC runs and are
  left out). N is OLMo's non-embedding count (`OLMO_PARAMS`, from its scripts/ladder_peteish.py;
  the files hold no total count, so both conventions use it); D is
  `throughput/total_tokens`; the loss is `eval/<validation>-validation/CrossEntropyLoss`, and a
  row's fraction is its tokens over the curve's last.
"""
import collections
import dataclasses
import pathlib
from typing import Callable

import numpy as np

from analysis.table import checkpoints
from records import results_csv

# Non-embedding parameters of the OLMo-2 ladder sizes (allenai/OLMo scripts/ladder_peteish.py).
OLMO_PARAMS = {"190M": 190354176, "370M": 371262464, "760M": 758220288, "1B": 1279395840,
               "3B": 3169537280}
MISFITTING_FILE = pathlib.Path("misfitting2025") / "scaling_results.csv"
OLMO_FOLDER = pathlib.Path("olmo_ladder") / "peteish-moreeval"


def _floats(table: results_csv.CsvTable, column: str) -> np.ndarray:
  """The column as float64; a ValueError naming the file, line and column otherwise."""
  if column not in table.header:
    raise ValueError(f"{table.path}: no column {column!r}; its columns are {table.header}")
  values = []
  for text, line in zip(table.texts(column), table.lines):
    try:
      values.append(float(text))
    except ValueError:
      raise ValueError(f"{table.path}, line {line}, column {column!r}: {text!r} is not a "
                       "number") from None
  return np.array(values, np.float64)


def misfitting2025(root: str | pathlib.Path,
                   peak_lr: float | None = None) -> checkpoints.CheckpointTable:
  """The (Mis)Fitting checkpoints under `root` (the shared data folder); see the module
  docstring. `peak_lr` keeps that peak learning rate's curves only (one of 0.0004, 0.001,
  0.002, 0.004, 0.008); None keeps the best learning rate of each size and budget."""
  table = results_csv.read_csv(pathlib.Path(root) / MISFITTING_FILE)
  loss, n_total, n_non_embedding, d, fraction, lr = (_floats(table, column) for column in (
      "loss", "N", "N_no_emb", "D", "portion_steps_elapsed", "peak_lr"))
  keys = [tuple(row[k] for k in ("model", "peak_lr", "sweep", "total_steps", "total_epochs"))
          for row in table.rows]
  rows_of = collections.defaultdict(list)
  for index, key in enumerate(keys):
    if fraction[index] <= 1:
      rows_of[key].append(index)
  curves = {key: rows for key, rows in rows_of.items()
            if len({d[i] for i in rows}) == len(rows) and np.any(fraction[rows] == 1)}
  if peak_lr is not None:
    curves = {key: rows for key, rows in curves.items() if lr[rows[0]] == peak_lr}
    if not curves:
      raise ValueError(f"misfitting2025: no curve has peak_lr={peak_lr:g}; use one of "
                       f"{sorted(set(lr.tolist()))}")

  def final_loss(key: tuple) -> float:
    return float(loss[[i for i in curves[key] if fraction[i] == 1][0]])

  best = {}  # (model, total_steps) -> its curve with the lowest final loss, written last
  for key in sorted(curves, key=final_loss, reverse=True):
    best[(key[0], key[3])] = key
  kept = sorted(best.values())
  index = np.array([i for key in kept for i in sorted(curves[key], key=lambda i: d[i])])
  labels = {key: f"{key[0]}/lr={key[1]}/steps={key[3]}/evals={key[4]}/{key[2]}"
            for key in kept}
  return checkpoints.CheckpointTable.from_columns(
      curve=[labels[keys[i]] for i in index], n_total=n_total[index],
      n_non_embedding=n_non_embedding[index], d=d[index], loss=loss[index],
      fraction=fraction[index], source=str(pathlib.Path(root) / MISFITTING_FILE))


def olmo_ladder(root: str | pathlib.Path,
                validation: str = "c4_en") -> checkpoints.CheckpointTable:
  """The OLMo-2 ladder's curves under `root` (the shared data folder); see the module
  docstring. `validation` names the held-out set (c4_en, pile, wikitext_103, dolma_books, ...)."""
  folder = pathlib.Path(root) / OLMO_FOLDER
  paths = sorted(folder.glob("*xC.csv"))
  if not paths:
    raise ValueError(f"{folder}: no <size>-<k>xC.csv ladder files; check the shared data folder")
  column = f"eval/{validation}-validation/CrossEntropyLoss"
  columns = collections.defaultdict(list)
  for path in paths:
    table = results_csv.read_csv(path)
    evaluated = [i for i, text in enumerate(table.texts(column)) if text]
    table = dataclasses.replace(table, rows=[table.rows[i] for i in evaluated],
                                lines=[table.lines[i] for i in evaluated])
    tokens = _floats(table, "throughput/total_tokens")
    order = np.argsort(tokens, kind="stable")
    size = path.stem.split("-")[0]
    columns["curve"] += [path.stem] * tokens.size
    columns["n_total"] += [OLMO_PARAMS[size]] * tokens.size
    columns["d"] += list(tokens[order])
    columns["loss"] += list(_floats(table, column)[order])
    columns["fraction"] += list(tokens[order] / tokens.max())
  return checkpoints.CheckpointTable.from_columns(**columns, source=str(folder))


LOADERS: dict[str, Callable[[str | pathlib.Path], checkpoints.CheckpointTable]] = {
    "misfitting2025": misfitting2025,
    "olmo_ladder": olmo_ladder,
}


def load(name: str, root: str | pathlib.Path) -> checkpoints.CheckpointTable:
  """The checkpoint table of dataset `name` (a key of `LOADERS`) under the shared data folder
  `root`, with each loader's defaults."""
  if name not in LOADERS:
    raise ValueError(f"dataset {name!r} has no checkpoint loader; use one of {list(LOADERS)}")
  return LOADERS[name](root)
