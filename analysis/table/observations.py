"""One tidy table of training runs, from a sweep's results.csv or from any mapped CSV.

Units: parameters (count), tokens, FLOPs, loss in nats/token. Two conventions are carried side
by side so that the same runs can be refitted under each:
  * N: `n_total` (with embeddings) or `n_non_embedding`;
  * C: `6nd` (6 * N * D with the chosen N) or `exact` (the sweep's exact training FLOPs, with
    attention and the output head).
"""
import collections
import dataclasses
import json
import pathlib
import re

import numpy as np

from records import conventions
from records import results_csv
from records import status as status_lib

N_CONVENTIONS = conventions.N_CONVENTIONS
C_CONVENTIONS = conventions.C_CONVENTIONS
COMPLETED = status_lib.RunStatus.COMPLETED
Column = results_csv.Column
MAPPABLE_COLUMNS = ("run_id", "n", "n_total", "n_non_embedding", "d", "c", "loss", "seed",
                    "status", "budget", "trunk_id")
_SUFFIX_EXPONENTS = {"k": 3, "m": 6, "b": 9, "g": 9, "t": 12}
_SUFFIXED = re.compile(r"^([0-9]*\.?[0-9]+)\s*([kKmMbBgGtT])$")


@dataclasses.dataclass(frozen=True)
class Observations:
  """Columns of equal length, one row per run.

  `flops_6nd` is 6 * n_non_embedding * d (FLOPs); `flops_exact` is NaN when the source has no
  exact count; `budget` is the nominal IsoFLOP budget in FLOPs (NaN when not given);
  `curve_path` is '' when the run has no eval curve. `trunk_id` names the WSD trunk a branch
  decayed off ('' for a run from scratch): points of one trunk share its noise, so the bootstrap
  resamples trunks (`bootstrap_blocks`). `flops_spent` is what the sweep spent on the point
  (FLOPs, exact; a branch's decay plus its share of the trunk; NaN when not recorded).
  `loss_floor` is the validation set's known Bayes-optimal loss (nats/token; NaN for corpora
  that do not know it). `source` names where the rows came from.
  """
  run_id: np.ndarray
  n_total: np.ndarray
  n_non_embedding: np.ndarray
  d: np.ndarray
  flops_6nd: np.ndarray
  flops_exact: np.ndarray
  loss: np.ndarray
  seed: np.ndarray
  status: np.ndarray
  curve_path: np.ndarray
  budget: np.ndarray
  trunk_id: np.ndarray
  flops_spent: np.ndarray
  loss_floor: np.ndarray
  source: str = ""

  def __len__(self) -> int:
    return len(self.loss)

  @classmethod
  def from_columns(cls, *, n_total: np.ndarray, d: np.ndarray, loss: np.ndarray,
                   n_non_embedding: np.ndarray | None = None,
                   flops_exact: np.ndarray | None = None, run_id: list | None = None,
                   seed: list | None = None, status: list | None = None,
                   curve_path: list | None = None, budget: list | None = None,
                   trunk_id: list | None = None, flops_spent: list | None = None,
                   loss_floor: list | None = None, source: str = "") -> "Observations":
    """Builds the table from arrays; missing optional columns get neutral defaults."""
    size = len(loss)
    n_total = np.asarray(n_total, dtype=np.float64)
    n_non_embedding = n_total if n_non_embedding is None else n_non_embedding
    n_non_embedding = np.asarray(n_non_embedding, dtype=np.float64)
    d = np.asarray(d, dtype=np.float64)

    def column(values, default, dtype):
      if values is None:
        return np.full(size, default, dtype=dtype)
      return np.asarray(values, dtype=dtype)

    return cls(
        run_id=column(run_id if run_id is not None else [str(i) for i in range(size)], "",
                      object),
        n_total=n_total,
        n_non_embedding=n_non_embedding,
        d=d,
        flops_6nd=6.0 * n_non_embedding * d,
        flops_exact=column(flops_exact, np.nan, np.float64),
        loss=np.asarray(loss, dtype=np.float64),
        seed=column(seed, 0, np.int64),
        status=column(status, COMPLETED, object),
        curve_path=column(curve_path, "", object),
        budget=column(budget, np.nan, np.float64),
        trunk_id=column(trunk_id, "", object),
        flops_spent=column(flops_spent, np.nan, np.float64),
        loss_floor=column(loss_floor, np.nan, np.float64),
        source=source)

  @classmethod
  def from_results_csv(cls, path: str | pathlib.Path,
                       where: dict[str, str] | None = None) -> "Observations":
    """Reads a sweep's results.csv (records.results_csv: its columns and units).

    Relative `curve_path` entries are resolved against the CSV's folder; an optional
    `compute_budget` column (FLOPs, empty for N x D grids) fills `budget`. `where` keeps only
    the rows holding those texts, as in `from_csv` (e.g. one peak_learning_rate).
    """
    path = pathlib.Path(path)
    table = _Rows.of(results_csv.read_results(path)).where(where)

    def curve(text: str) -> str:
      if not text:
        return ""
      return str(path.parent / text) if not pathlib.Path(text).is_absolute() else text

    return cls.from_columns(
        run_id=table.texts(Column.RUN_ID),
        n_total=table.floats(Column.N_PARAMS_TOTAL),
        n_non_embedding=table.floats(Column.N_PARAMS_NON_EMBEDDING),
        d=table.floats(Column.TOKENS),
        flops_exact=table.floats(Column.FLOPS_EXACT),
        loss=table.floats(Column.FINAL_EVAL_LOSS),
        seed=table.seeds(Column.SEED) if Column.SEED in table.header else None,
        status=table.texts(Column.STATUS),
        curve_path=[curve(text) for text in table.texts(Column.CURVE_PATH)],
        budget=(table.floats(Column.COMPUTE_BUDGET) if Column.COMPUTE_BUDGET in table.header
                else None),
        trunk_id=table.texts(Column.TRUNK_ID) if Column.TRUNK_ID in table.header else None,
        flops_spent=(table.floats(Column.FLOPS_SPENT) if Column.FLOPS_SPENT in table.header
                     else None),
        loss_floor=(table.floats(Column.LOSS_FLOOR) if Column.LOSS_FLOOR in table.header
                    else None),
        source=str(path))

  @classmethod
  def from_csv(cls, path: str | pathlib.Path, columns: dict[str, str],
               where: dict[str, str] | None = None) -> "Observations":
    """Reads any CSV through a column mapping {field: csv column}.

    Fields: `n` (one parameter count, used under both N conventions) or `n_total` and/or
    `n_non_embedding`; `d` (tokens) or `c` (FLOPs, then D = C / (6 N)); `loss` (nats/token);
    optional `run_id`, `seed`, `status`, `budget` (nominal IsoFLOP budget, FLOPs). `where`
    {csv column: value} keeps only the rows whose columns hold those exact texts (e.g. one
    dataset of a table that mixes several). Without a run_id column each run is named by its
    CSV line ('line 7').
    """
    path = pathlib.Path(path)
    unknown = sorted(set(columns) - set(MAPPABLE_COLUMNS))
    if unknown:
      raise ValueError(f"--columns: unknown fields {unknown}; use {list(MAPPABLE_COLUMNS)}")
    table = _Rows.of(results_csv.read_csv(path))
    absent = sorted(col for col in columns.values() if col not in table.header)
    if absent:
      raise ValueError(f"{path}: columns {absent} not in the CSV header {table.header}")
    table = table.where(where)
    split_n = {"n_total", "n_non_embedding"} & set(columns)
    if not (("n" in columns and not split_n) or ("n" not in columns and len(split_n) == 2)):
      raise ValueError("--columns needs n:COL, or both n_total:COL and n_non_embedding:COL")
    if "loss" not in columns or not ({"d", "c"} & set(columns)):
      raise ValueError("--columns needs loss:COL and d:COL (tokens) or c:COL (FLOPs)")
    n_total = table.floats(columns["n"] if "n" in columns else columns["n_total"])
    n_non_embedding = table.floats(columns["n"] if "n" in columns
                                   else columns["n_non_embedding"])
    if "d" in columns:
      d = table.floats(columns["d"])
    else:
      d = table.floats(columns["c"]) / (6.0 * n_non_embedding)

    def optional(field, read):
      return read(columns[field]) if field in columns else None

    return cls.from_columns(
        run_id=optional("run_id", table.texts) or [f"line {line}" for line in table.lines],
        n_total=n_total, n_non_embedding=n_non_embedding, d=d,
        loss=table.floats(columns["loss"]), seed=optional("seed", table.seeds),
        status=optional("status", table.texts), budget=optional("budget", table.floats),
        trunk_id=optional("trunk_id", table.texts), source=str(path))

  def bootstrap_blocks(self) -> np.ndarray | None:
    """The label per row whose equal values the bootstrap draws together: the trunk for rows
    that have one (a run from scratch is a block of its own), or None when no row has a trunk
    (every point is drawn on its own)."""
    if not np.any(self.trunk_id != ""):
      return None
    return np.array([trunk or f"run:{run_id}" for trunk, run_id in
                     zip(self.trunk_id, self.run_id)], dtype=object)

  def select(self, mask: np.ndarray) -> "Observations":
    """The rows where the boolean `mask` (or the integer index array) selects."""
    fields = {f.name: getattr(self, f.name)[mask] for f in dataclasses.fields(self)
              if f.name != "source"}
    return dataclasses.replace(self, **fields)

  def clean(self) -> tuple["Observations", list[str]]:
    """Drops rows that would give a silently wrong fit; returns (kept rows, one line per reason).

    Excluded: status other than 'completed' (diverged or unfinished), non-finite or
    non-positive loss, N or D. A row that repeats an earlier one (same run id, or same N, D and
    seed) with the same N, D, seed and loss is merged into it with a notice; with any other
    value the table mixes two configurations (e.g. a sweep relaunched with another peak LR) and
    a ValueError names both rows and the fix: nothing is dropped or merged silently.
    """
    reasons = collections.defaultdict(list)
    keep = np.ones(len(self), dtype=bool)
    checks = (
        (f"status is not '{COMPLETED}' (diverged or unfinished)", self.status != COMPLETED),
        ("non-finite loss", ~np.isfinite(self.loss)),
        ("non-positive loss", np.isfinite(self.loss) & (self.loss <= 0)),
        ("non-finite or non-positive N or D",
         ~(np.isfinite(self.n_total) & np.isfinite(self.n_non_embedding) & np.isfinite(self.d)
           & (self.n_total > 0) & (self.n_non_embedding > 0) & (self.d > 0))),
    )
    for reason, bad in checks:
      for index in np.flatnonzero(bad & keep):
        reasons[reason].append(str(self.run_id[index]))
      keep &= ~bad
    merged = self._merge_duplicates(keep)
    warnings = [f"excluded {len(ids)} run(s), {reason}: {_id_list(ids)}"
                for reason, ids in reasons.items()]
    if merged:
      warnings.append(f"merged {len(merged)} duplicate row(s) into the identical earlier row "
                      f"(same run id or same N, D and seed, and the same loss): "
                      f"{_id_list(merged)}")
    return self.select(keep), warnings

  def _merge_duplicates(self, keep: np.ndarray) -> list[str]:
    """Unsets `keep` for rows identical to an earlier kept one; returns their run ids.

    Raises a ValueError naming both rows when a repeat (same run id, or same N, D and seed)
    differs from the earlier row.
    """
    first_by_id, first_by_config, merged = {}, {}, []
    for index in np.flatnonzero(keep):
      run_id, config = self.run_id[index], self._config(index)
      earlier = first_by_id.get(run_id, first_by_config.get(config))
      if earlier is None:
        first_by_id[run_id] = first_by_config[config] = index
      elif self._config(earlier) == config and self.loss[earlier] == self.loss[index]:
        keep[index] = False
        merged.append(str(run_id))
      else:
        raise ValueError(self._clash(earlier, index))
    return merged

  def _config(self, index: int) -> tuple:
    return (self.n_total[index], self.n_non_embedding[index], self.d[index], self.seed[index])

  def _clash(self, first: int, second: int) -> str:
    """The one-line error for two rows that repeat a run with different values."""
    where = f"{self.source}: " if self.source else ""
    ids = (self.run_id[first], self.run_id[second])
    if ids[0] == ids[1]:
      return (f"{where}run id {ids[0]} is on two rows with different N, D, seed or loss "
              f"({self._describe(first)}; {self._describe(second)}): remove the stale row")
    return (f"{where}runs {ids[0]} and {ids[1]} have the same N, D and seed but losses "
            f"{self.loss[first]:.6g} and {self.loss[second]:.6g}: the table mixes two "
            "configurations; keep one with --where=COLUMN:VALUE (e.g. "
            "--where=peak_learning_rate:0.003 for a sweep's results.csv), or map the seed "
            "column (--columns=...,seed:COL) if they are repeated seeds")

  def _describe(self, index: int) -> str:
    return (f"N={self.n_total[index]:.6g}, D={self.d[index]:.6g}, seed {self.seed[index]}, "
            f"loss {self.loss[index]:.6g}")

  def drop_highest(self, count: int) -> "Observations":
    """Drops the `count` highest-loss rows (Besiroglu et al. 2024 drop the 5 highest)."""
    if count < 0:
      raise ValueError(f"drop_highest={count}: must be >= 0")
    if count == 0:
      return self
    order = np.argsort(self.loss, kind="stable")
    return self.select(np.sort(order[:len(self) - count]))

  def arrays(self, n: str = "non_embedding", c: str = "6nd") -> dict[str, np.ndarray]:
    """{'n': params, 'd': tokens, 'c': FLOPs, 'loss': nats/token} under the named conventions.

    c='6nd' is 6 * N * D with the chosen N; c='exact' is the sweep's exact FLOPs.
    """
    if n not in N_CONVENTIONS:
      raise ValueError(f"n convention {n!r}: use one of {N_CONVENTIONS}")
    if c not in C_CONVENTIONS:
      raise ValueError(f"c convention {c!r}: use one of {C_CONVENTIONS}")
    params = self.n_non_embedding if n == "non_embedding" else self.n_total
    if c == "exact":
      if not np.all(np.isfinite(self.flops_exact)):
        raise ValueError("c convention 'exact' needs flops_exact for every run; this source "
                         "has none: use c='6nd'")
      flops = self.flops_exact
    else:
      flops = 6.0 * params * self.d
    return dict(n=params.copy(), d=self.d.copy(), c=flops.copy(), loss=self.loss.copy())


def load_curve(path: str | pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
  """Reads a run's metrics.jsonl: (tokens seen, eval loss in nats/token), in token order.

  An eval point is a record with `tokens` and `eval_loss` whose `kind`, when present, is 'eval'.
  """
  tokens, losses = [], []
  with open(path) as lines:
    for line in lines:
      if not line.strip():
        continue
      record = json.loads(line)
      if record.get("kind", "eval") == "eval" and "eval_loss" in record:
        tokens.append(float(record["tokens"]))
        losses.append(float(record["eval_loss"]))
  order = np.argsort(tokens, kind="stable")
  return np.asarray(tokens)[order], np.asarray(losses)[order]


def parse_columns(text: str) -> dict[str, str]:
  """Parses 'n:COL,d:COL,loss:COL' into {'n': 'COL', ...}."""
  return _parse_pairs(text, "--columns", "field:COLUMN, e.g. n:params")


def parse_where(text: str) -> dict[str, str]:
  """Parses 'COLUMN:VALUE,...' (rows to keep, see `Observations.from_csv`) into a dict."""
  return _parse_pairs(text, "--where", "COLUMN:VALUE, e.g. dataset:c4_original")


def _parse_pairs(text: str, flag: str, expected: str) -> dict[str, str]:
  mapping = {}
  for item in text.split(","):
    key, sep, value = item.partition(":")
    if not sep or not key or not value:
      raise ValueError(f"{flag} item {item!r}: expected {expected}")
    mapping[key.strip()] = value.strip()
  return mapping


@dataclasses.dataclass(frozen=True)
class _Rows(results_csv.CsvTable):
  """A CSV table (records.results_csv.read_csv) with the parsing the analysis needs."""

  @classmethod
  def of(cls, table: results_csv.CsvTable) -> "_Rows":
    return cls(table.path, table.header, table.rows, table.lines)

  def where(self, where: dict[str, str] | None) -> "_Rows":
    """The rows whose columns hold the `where` {column: text} values (all rows for None)."""
    if not where:
      return self
    absent = sorted(col for col in where if col not in self.header)
    if absent:
      raise ValueError(f"{self.path}: --where columns {absent} not in the CSV header "
                       f"{self.header}")
    kept = [i for i, row in enumerate(self.rows)
            if all(row[col] == value for col, value in where.items())]
    if not kept:
      raise ValueError(f"{self.path}: no row matches --where {where}; check the values")
    return dataclasses.replace(self, rows=[self.rows[i] for i in kept],
                               lines=[self.lines[i] for i in kept])

  def floats(self, column: str) -> np.ndarray:
    """The column as float64, NaN for an empty cell; a ValueError naming the line, the column
    and how to write the number for any other text."""
    values = []
    for text, line in zip(self.texts(column), self.lines):
      try:
        values.append(float(text) if text else np.nan)
      except ValueError:
        raise ValueError(f"{self.path}, line {line}, column {column!r}: {text!r} is not a "
                         f"number; {_number_fix(text)}") from None
    return np.array(values, dtype=np.float64)

  def seeds(self, column: str) -> np.ndarray:
    """The column as integer seeds, 0 for an empty cell."""
    values = self.floats(column)
    for value, line in zip(values, self.lines):
      if np.isfinite(value) and not float(value).is_integer():
        raise ValueError(f"{self.path}, line {line}, column {column!r}: seed {value:g} is not "
                         "an integer; write whole numbers")
    return np.nan_to_num(values, nan=0.0).astype(np.int64)


def _number_fix(text: str) -> str:
  """How to write `text` as a number Python reads."""
  match = _SUFFIXED.match(text)
  if match:
    number, suffix = match.groups()
    return (f"write numbers without unit suffixes, e.g. "
            f"{number}e{_SUFFIX_EXPONENTS[suffix.lower()]} for {text}")
  if re.fullmatch(r"[0-9]+,[0-9]+", text):
    return f"write '.' as the decimal point, e.g. {text.replace(',', '.')}"
  return "write plain or scientific notation (e.g. 125e6, 2.5), or leave the cell empty"


def _id_list(ids: list[str], limit: int = 10) -> str:
  shown = ", ".join(ids[:limit])
  return shown if len(ids) <= limit else f"{shown}, ... ({len(ids) - limit} more)"
