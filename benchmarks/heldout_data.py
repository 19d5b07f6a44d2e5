"""The shared datasets with held-out structure, as runs for `analysis.trust.rollout.rollout`.

Each loader takes the shared data folder (../shared/data; its README gives sources and columns)
and returns {name: Dataset}. Units: parameters, tokens, FLOPs, nats/token.

- `chinchilla`: Epoch's Chinchilla points (240, the 5 highest losses dropped), C = 6ND, split by C.
- `gadre`: Gadre et al. 2024's open_lm runs, `loss_openlm` of each training set and `loss_c4_val`
  of c4_original; N = params, D = tokens, C = 6ND; split by N.
- `porian`: each of Porian et al. 2024's 15 settings (isoflop_points.csv), N = n, D = t,
  C = flops; split by C.
- `olmo_ladder`, `misfitting2025`: the final losses of the checkpoint tables of
  `analysis.table.published_curves` (OLMo's c4_en ladder; the (Mis)Fitting runs at the best peak
  learning rate of each size and budget), C = 6ND with non-embedding N; split by N. Their
  `table` carries the checkpoints for the fit with checkpoints.
- `datablations`: Muennighoff et al. 2023's runs (N = num_params, D = token_num, U =
  tokens_per_epoch unique tokens, C = flops), split by N.
"""
import csv
import dataclasses
import pathlib
from typing import Callable

import numpy as np

from analysis.table import checkpoints
from analysis.table import published_curves
import scipy_chinchilla  # beside this script


@dataclasses.dataclass(frozen=True)
class Dataset:
  """Runs with a held-out structure.

  Attributes:
    runs: n, d, c, loss (and u where runs repeat data), one value per run.
    run_ids: a name per run.
    split: 'c' or 'n', the variable the rollout's thresholds apply to.
    forms: the `catalogue` forms compared, the baseline (Chinchilla's) first.
    table: the checkpoints behind the runs, where the dataset has them.
  """
  runs: dict[str, np.ndarray]
  run_ids: list[str]
  split: str
  forms: tuple[str, ...]
  table: checkpoints.CheckpointTable | None = None


FORMS = ("chinchilla", "overtraining", "kaplan_nd", "interaction")


def _read(path: pathlib.Path) -> list[dict[str, str]]:
  with open(path) as handle:
    return list(csv.DictReader(handle))


def chinchilla(root: pathlib.Path) -> dict[str, Dataset]:
  n, d, loss = scipy_chinchilla.load_epoch(root / "chinchilla_epoch" / "svg_extracted_data.csv")
  return {"chinchilla (Epoch)": Dataset(dict(n=n, d=d, c=6 * n * d, loss=loss),
                                        [str(i) for i in range(n.size)], "c", FORMS)}


def gadre(root: pathlib.Path) -> dict[str, Dataset]:
  rows = _read(root / "gadre2024_overtraining" / "models_flat.csv")
  found = {}
  for dataset, column in [("c4_original", "loss_openlm"), ("c4_original", "loss_c4_val"),
                          ("rpj", "loss_openlm"), ("rw_original", "loss_openlm")]:
    chosen = [r for r in rows if r["dataset"] == dataset]
    n, d, loss = (np.array([float(r[k]) for r in chosen]) for k in ("params", "tokens", column))
    found[f"gadre {dataset} {column}"] = Dataset(
        dict(n=n, d=d, c=6 * n * d, loss=loss), [r["name"] for r in chosen], "n", FORMS)
  return found


def porian(root: pathlib.Path) -> dict[str, Dataset]:
  rows = [r for r in _read(root / "porian2024_resolving" / "isoflop_points.csv") if r["loss"]]
  found = {}
  for key in dict.fromkeys((r["file"], r["row"]) for r in rows):
    chosen = [r for r in rows if (r["file"], r["row"]) == key]
    label = "/".join(chosen[0][k] for k in ("dataset", "hparams", "warmup", "decay",
                                            "param_count", "loss_source"))
    n, d, c, loss = (np.array([float(r[k]) for r in chosen]) for k in ("n", "t", "flops", "loss"))
    found[f"porian {label}"] = Dataset(dict(n=n, d=d, c=c, loss=loss),
                                       [f"{r['n']}@{r['flops']}" for r in chosen], "c", FORMS)
  return found


def _from_table(name: str, table: checkpoints.CheckpointTable) -> dict[str, Dataset]:
  finals = table.select("final")
  return {name: Dataset(finals.arrays(), list(finals.run_id), "n", FORMS, table)}


def olmo_ladder(root: pathlib.Path) -> dict[str, Dataset]:
  return _from_table("olmo ladder c4_en", published_curves.olmo_ladder(root))


def misfitting(root: pathlib.Path) -> dict[str, Dataset]:
  return _from_table("misfitting2025", published_curves.misfitting2025(root))


def datablations(root: pathlib.Path) -> dict[str, Dataset]:
  rows = _read(root / "datablations2023" / "datablations_contour_losses.csv")
  n, d, u, c, loss = (np.array([float(r[k]) for r in rows]) for k in (
      "num_params", "token_num", "tokens_per_epoch", "flops", "openLM_loss"))
  return {"datablations2023": Dataset(dict(n=n, d=d, c=c, loss=loss, u=u),
                                      [r["index"] for r in rows], "n",
                                      ("chinchilla", "data_constrained") + FORMS[1:])}


# (folder under the shared data folder, loader), in the scoreboard's order.
LOADERS: dict[str, tuple[str, Callable[[pathlib.Path], dict[str, Dataset]]]] = {
    "chinchilla": ("chinchilla_epoch", chinchilla),
    "gadre": ("gadre2024_overtraining", gadre),
    "porian": ("porian2024_resolving", porian),
    "olmo_ladder": ("olmo_ladder", olmo_ladder),
    "misfitting2025": ("misfitting2025", misfitting),
    "datablations2023": ("datablations2023", datablations),
}
