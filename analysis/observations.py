"""One tidy table of training runs, from a sweep's results.csv or from any mapped CSV.

Units: parameters (count), tokens, FLOPs, loss in nats/token. Two conventions are carried side
by side so that the same runs can be refitted under each:
  * N: `n_total` (with embeddings) or `n_non_embedding`;
  * C: `6nd` (6 * N * D with the chosen N) or `exact` (the sweep's exact training FLOPs, with
    attention and the output head).
"""
import collections
import csv
import dataclasses
import json
import pathlib

import numpy as np

N_CONVENTIONS = ("non_embedding", "total")
C_CONVENTIONS = ("6nd", "exact")
COMPLETED = "completed"
MAPPABLE_COLUMNS = ("run_id", "n", "n_total", "n_non_embedding", "d", "c", "loss", "seed",
                    "status", "budget")


@dataclasses.dataclass(frozen=True)
class Observations:
  """Columns of equal length, one row per run.

  `flops_6nd` is 6 * n_non_embedding * d (FLOPs); `flops_exact` is NaN when the source has no
  exact count; `budget` is the nominal IsoFLOP budget in FLOPs (NaN when not given);
  `curve_path` is '' when the run has no eval curve. `source` names where the rows came from.
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
  source: str = ""

  def __len__(self) -> int:
    return len(self.loss)

  @classmethod
  def from_columns(cls, *, n_total: np.ndarray, d: np.ndarray, loss: np.ndarray,
                   n_non_embedding: np.ndarray | None = None,
                   flops_exact: np.ndarray | None = None, run_id: list | None = None,
                   seed: list | None = None, status: list | None = None,
                   curve_path: list | None = None, budget: list | None = None,
                   source: str = "") -> "Observations":
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
        source=source)

  @classmethod
  def from_results_csv(cls, path: str | pathlib.Path) -> "Observations":
    """Reads a sweep's results.csv (columns written by the sweep launcher).

    Relative `curve_path` entries are resolved against the CSV's folder; an optional
    `compute_budget` column (FLOPs, empty for N x D grids) fills `budget`.
    """
    path = pathlib.Path(path)
    rows = _read_rows(path)
    required = ("run_id", "n_params_total", "n_params_non_embedding", "tokens", "flops_exact",
                "final_eval_loss", "status")
    missing = [name for name in required if name not in rows[0]]
    if missing:
      raise ValueError(f"{path}: results.csv lacks columns {missing}; was it written by the "
                       "sweep launcher? For other CSVs use --data with --columns.")

    def curve(text: str) -> str:
      if not text:
        return ""
      return str(path.parent / text) if not pathlib.Path(text).is_absolute() else text

    return cls.from_columns(
        run_id=[row["run_id"] for row in rows],
        n_total=_floats(rows, "n_params_total"),
        n_non_embedding=_floats(rows, "n_params_non_embedding"),
        d=_floats(rows, "tokens"),
        flops_exact=_floats(rows, "flops_exact"),
        loss=_floats(rows, "final_eval_loss"),
        seed=[int(float(row.get("seed") or 0)) for row in rows],
        status=[row["status"] for row in rows],
        curve_path=[curve(row.get("curve_path", "")) for row in rows],
        budget=_floats(rows, "compute_budget") if "compute_budget" in rows[0] else None,
        source=str(path))

  @classmethod
  def from_csv(cls, path: str | pathlib.Path, columns: dict[str, str],
               where: dict[str, str] | None = None) -> "Observations":
    """Reads any CSV through a column mapping {field: csv column}.

    Fields: `n` (one parameter count, used under both N conventions) or `n_total` and/or
    `n_non_embedding`; `d` (tokens) or `c` (FLOPs, then D = C / (6 N)); `loss` (nats/token);
    optional `run_id`, `seed`, `status`, `budget` (nominal IsoFLOP budget, FLOPs). `where`
    {csv column: value} keeps only the rows whose columns hold those exact texts (e.g. one
    dataset of a table that mixes several).
    """
    path = pathlib.Path(path)
    unknown = sorted(set(columns) - set(MAPPABLE_COLUMNS))
    if unknown:
      raise ValueError(f"--columns: unknown fields {unknown}; use {list(MAPPABLE_COLUMNS)}")
    rows = _read_rows(path)
    absent = sorted(col for col in list(columns.values()) + list(where or {})
                    if col not in rows[0])
    if absent:
      raise ValueError(f"{path}: columns {absent} not in the CSV header {list(rows[0])}")
    if where:
      rows = [row for row in rows if all(row[col] == value for col, value in where.items())]
      if not rows:
        raise ValueError(f"{path}: no row matches --where {where}; check the values")
    split_n = {"n_total", "n_non_embedding"} & set(columns)
    if not (("n" in columns and not split_n) or ("n" not in columns and len(split_n) == 2)):
      raise ValueError("--columns needs n:COL, or both n_total:COL and n_non_embedding:COL")
    if "loss" not in columns or not ({"d", "c"} & set(columns)):
      raise ValueError("--columns needs loss:COL and d:COL (tokens) or c:COL (FLOPs)")
    n_total = _floats(rows, columns["n"] if "n" in columns else columns["n_total"])
    n_non_embedding = _floats(rows, columns["n"] if "n" in columns
                              else columns["n_non_embedding"])
    if "d" in columns:
      d = _floats(rows, columns["d"])
    else:
      d = _floats(rows, columns["c"]) / (6.0 * n_non_embedding)

    def optional(field, convert):
      return [convert(row[columns[field]]) for row in rows] if field in columns else None

    return cls.from_columns(
        run_id=optional("run_id", str), n_total=n_total, n_non_embedding=n_non_embedding,
        d=d, loss=_floats(rows, columns["loss"]), seed=optional("seed", lambda t: int(float(t))),
        status=optional("status", str), budget=optional("budget", float), source=str(path))

  def select(self, mask: np.ndarray) -> "Observations":
    """The rows where the boolean `mask` (or the integer index array) selects."""
    fields = {f.name: getattr(self, f.name)[mask] for f in dataclasses.fields(self)
              if f.name != "source"}
    return dataclasses.replace(self, **fields)

  def clean(self) -> tuple["Observations", list[str]]:
    """Drops rows that would give a silently wrong fit; returns (kept rows, one line per reason).

    Excluded: status other than 'completed' (diverged or unfinished), non-finite or
    non-positive loss, N or D, and duplicates (same run id, or same N, D and seed: first kept).
    """
    reasons = collections.defaultdict(list)
    keep = np.ones(len(self), dtype=bool)
    checks = (
        ("status is not 'completed' (diverged or unfinished)", self.status != COMPLETED),
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
    seen_ids, seen_configs = set(), set()
    for index in np.flatnonzero(keep):
      config = (self.n_total[index], self.n_non_embedding[index], self.d[index],
                self.seed[index])
      if self.run_id[index] in seen_ids or config in seen_configs:
        reasons["duplicate run (same run id, or same N, D and seed)"].append(
            str(self.run_id[index]))
        keep[index] = False
      seen_ids.add(self.run_id[index])
      seen_configs.add(config)
    warnings = [f"excluded {len(ids)} run(s), {reason}: {_id_list(ids)}"
                for reason, ids in reasons.items()]
    return self.select(keep), warnings

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


def _read_rows(path: pathlib.Path) -> list[dict[str, str]]:
  if not path.is_file():
    raise ValueError(f"{path}: no such file")
  with open(path, newline="") as handle:
    rows = list(csv.DictReader(handle))
  if not rows:
    raise ValueError(f"{path}: the CSV has no data rows")
  return rows


def _floats(rows: list[dict[str, str]], column: str) -> np.ndarray:
  return np.array([float(row[column]) if row[column] not in ("", None) else np.nan
                   for row in rows])


def _id_list(ids: list[str], limit: int = 10) -> str:
  shown = ", ".join(ids[:limit])
  return shown if len(ids) <= limit else f"{shown}, ... ({len(ids) - limit} more)"
