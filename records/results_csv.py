"""results.csv, a sweep's table of finished runs: its columns, their units, the writer and the
reader (any comma-separated table, and a results.csv with its required columns checked).

One row per run whose result.json is completed or diverged, sorted by run id. Every column:

  run_id                  text        the run directory's name under SWEEP/runs/
  seed                    integer     the run's seed (parameter init)
  n_layers, d_model       integer     the model's depth and width
  n_params_total          parameters  all parameters, embeddings included
  n_params_non_embedding  parameters  less the token embedding (Kaplan's N)
  tokens                  tokens      training tokens trained on (D)
  flops_6nd               FLOPs       6 x n_params_non_embedding x tokens (Kaplan's C = 6ND)
  flops_exact             FLOPs       training FLOPs with attention and the output head
  final_eval_loss         nats/token  validation loss after the last step (empty: diverged)
  final_train_loss        nats/token  smoothed train loss at the last step
  status                  RunStatus   completed or diverged
  wall_seconds            seconds     wall time of the run over all its launches
  curve_path              path        the run's metrics.jsonl (eval lines: "kind": "eval")
  compute_budget          FLOPs       the IsoFLOP budget the run belongs to (empty: N x D grids)
  bits_per_byte           bits/byte   final eval loss per UTF-8 byte of validation text (empty
                                      for corpora without text)
  peak_learning_rate      (none)      the peak learning rate the run trained with
  batch_size              sequences   sequences per optimizer step
  schedule                name        cosine, constant, wsd or wsd_branch (records.result)
  trunk_id                text        a branch's trunk run (empty: not a branch)
  branch_tokens           tokens      where a branch leaves its trunk (0: not a branch)
  decay_tokens            tokens      tokens of the learning-rate decay (0: none)
  flops_spent             FLOPs       exact training FLOPs the sweep spent on this point: a
                                      branch's decay plus its share of the trunk (each trunk
                                      segment between branch points split among the branches
                                      leaving at its end), so the column sums to the sweep's
                                      training compute with every trunk counted once
  loss_floor              nats/token  the lowest expected final_eval_loss on this validation
                                      set (the Bayes predictor's; empty unless the corpus
                                      knows it: data.synthetic_kind=topics)

A trunk (schedule wsd_trunk) is not a point: it has no row, and its FLOPs are in its branches'.
After these columns come the downstream tasks a sweep was evaluated on (`python -m scaling
evaluate`), one column per task named by the task, holding its score (the task's first metric,
in the task's own unit, e.g. bits per byte; empty for a run not evaluated on it).

An empty cell is a missing value (None). Numbers are written with Python's `str`, which reads
back exactly.
"""
import csv
import dataclasses
import enum
import io
import pathlib
from typing import Any, Iterable, Mapping

from records import atomic


class Column(enum.StrEnum):
  """A results.csv column; `unit` as in the module docstring, `kind` how its cells parse."""

  def __new__(cls, name: str, unit: str, kind: str) -> "Column":
    member = str.__new__(cls, name)
    member._value_ = name
    member.unit = unit
    member.kind = kind
    return member

  RUN_ID = ("run_id", "text", "text")
  SEED = ("seed", "integer", "integer")
  N_LAYERS = ("n_layers", "integer", "integer")
  D_MODEL = ("d_model", "integer", "integer")
  N_PARAMS_TOTAL = ("n_params_total", "parameters", "integer")
  N_PARAMS_NON_EMBEDDING = ("n_params_non_embedding", "parameters", "integer")
  TOKENS = ("tokens", "tokens", "integer")
  FLOPS_6ND = ("flops_6nd", "FLOPs", "number")
  FLOPS_EXACT = ("flops_exact", "FLOPs", "number")
  FINAL_EVAL_LOSS = ("final_eval_loss", "nats/token", "number")
  FINAL_TRAIN_LOSS = ("final_train_loss", "nats/token", "number")
  STATUS = ("status", "RunStatus", "text")
  WALL_SECONDS = ("wall_seconds", "seconds", "number")
  CURVE_PATH = ("curve_path", "path", "text")
  COMPUTE_BUDGET = ("compute_budget", "FLOPs", "number")
  BITS_PER_BYTE = ("bits_per_byte", "bits/byte", "number")
  PEAK_LEARNING_RATE = ("peak_learning_rate", "dimensionless", "number")
  BATCH_SIZE = ("batch_size", "sequences", "integer")
  SCHEDULE = ("schedule", "name", "text")
  TRUNK_ID = ("trunk_id", "text", "text")
  BRANCH_TOKENS = ("branch_tokens", "tokens", "integer")
  DECAY_TOKENS = ("decay_tokens", "tokens", "integer")
  FLOPS_SPENT = ("flops_spent", "FLOPs", "number")
  LOSS_FLOOR = ("loss_floor", "nats/token", "number")


COLUMNS = tuple(Column)
# What a reader cannot do without; the other columns may be absent (older or hand-made tables).
REQUIRED = (Column.RUN_ID, Column.N_PARAMS_TOTAL, Column.N_PARAMS_NON_EMBEDDING, Column.TOKENS,
            Column.FLOPS_EXACT, Column.FINAL_EVAL_LOSS, Column.STATUS)
# Separators that a one-column header betrays: the file is not comma-separated.
_OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}


def write_results(path: str | pathlib.Path, rows: Iterable[Mapping[str, Any]],
                  task_columns: Iterable[str] = ()) -> pathlib.Path:
  """Writes `rows` ({column: value}, None or absent for an empty cell) under the COLUMNS header
  and then `task_columns` (downstream task scores), atomically. Raises ValueError for a key that
  is neither, or for a task column named like a Column."""
  path = pathlib.Path(path)
  task_columns = list(task_columns)
  clashing = sorted(set(task_columns) & set(COLUMNS))
  if clashing:
    raise ValueError(f"downstream task {clashing[0]!r} has the name of a results.csv column: "
                     "rename the task")
  buffer = io.StringIO()
  writer = csv.DictWriter(buffer, fieldnames=[*COLUMNS, *task_columns], restval="",
                          lineterminator="\n")
  writer.writeheader()
  for row in rows:
    writer.writerow({key: "" if value is None else value for key, value in row.items()})
  atomic.write_text_atomic(path, buffer.getvalue())
  return path


@dataclasses.dataclass(frozen=True)
class CsvTable:
  """The data rows of a CSV file as texts: `lines` holds each row's 1-based line in the file."""
  path: pathlib.Path
  header: list[str]
  rows: list[dict[str, str]]
  lines: list[int]

  def texts(self, column: str) -> list[str]:
    """The column's texts, stripped ('' where a short row or the header lacks the field)."""
    return [(row.get(column) or "").strip() for row in self.rows]

  def values(self, column: Column) -> list[Any]:
    """A results.csv column parsed by its kind: int, float or str, None for an empty cell.

    Raises ValueError naming the line and the column for a cell that does not parse.
    """
    return [_parse(column, text, self.path, line)
            for text, line in zip(self.texts(column), self.lines)]


def read_csv(path: str | pathlib.Path) -> CsvTable:
  """Reads a comma-separated file; a ValueError naming the fix for a missing file, no rows,
  or a header that another separator (semicolon, tab, pipe) joins into one column."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise ValueError(f"{path}: no such file")
  rows, lines = [], []
  with open(path, newline="") as handle:
    reader = csv.DictReader(handle)
    for row in reader:
      rows.append(row)
      lines.append(reader.line_num)
    header = list(reader.fieldnames or [])
  if len(header) == 1:
    for delimiter, name in _OTHER_DELIMITERS.items():
      if delimiter in header[0]:
        raise ValueError(f"{path}: the header {header[0]!r} reads as one column: the file "
                         f"looks {name}-separated; convert it to commas (with '.' as the "
                         "decimal point)")
  if not rows:
    raise ValueError(f"{path}: the CSV has no data rows")
  return CsvTable(path, header, rows, lines)


def read_results(path: str | pathlib.Path) -> CsvTable:
  """Reads a sweep's results.csv (`read_csv`); a ValueError when a REQUIRED column is absent."""
  table = read_csv(path)
  missing = [str(column) for column in REQUIRED if column not in table.header]
  if missing:
    raise ValueError(f"{table.path}: results.csv lacks columns {missing}; was it written by "
                     "the sweep launcher? For other CSVs use --data with --columns.")
  return table


def _parse(column: Column, text: str, path: pathlib.Path, line: int) -> Any:
  if not text:
    return None
  if column.kind == "text":
    return text
  try:
    number = float(text)
  except ValueError:
    raise ValueError(f"{path}, line {line}, column {str(column)!r}: {text!r} is not a "
                     "number") from None
  if column.kind == "number":
    return number
  if not number.is_integer():
    raise ValueError(f"{path}, line {line}, column {str(column)!r}: {text!r} is not a whole "
                     "number")
  return int(text) if text.lstrip("-").isdigit() else int(number)
