"""The sweep report's 'loss as compression' section: a table and a figure.

`section(results_csv, out_dir)` reads the finished runs listed in a sweep's results.csv (each
run's result.json and prepared data), measures gzip -9, bz2 -9 and lzma -9 on the validation
text the runs were evaluated on, writes `out_dir/compression.png` and returns the section's
markdown lines. Units: bits per byte of UTF-8 text (bits per token for token-id corpora, whose
ids the compressors see as packed integers); sizes in bytes; N = non-embedding parameters,
D = training tokens. The parameter file size is 4 bytes (float32) per parameter, as exported.
"""
import dataclasses
import json
import math
import pathlib

import matplotlib
import ml_collections

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  # pylint: disable=wrong-import-position
from matplotlib import colors  # noqa: E402  # pylint: disable=wrong-import-position
from matplotlib import ticker  # noqa: E402  # pylint: disable=wrong-import-position
import numpy as np  # noqa: E402  # pylint: disable=wrong-import-position

from data import pipeline  # noqa: E402
from export import compression  # noqa: E402
from records import result as result_lib  # noqa: E402
from records import results_csv as results_csv_lib  # noqa: E402
from records.results_csv import Column  # noqa: E402
from records.status import RunStatus  # noqa: E402

FIGURE = "compression.png"
BYTES_PER_PARAMETER = 4  # float32, as `export` writes them


@dataclasses.dataclass(frozen=True)
class CorpusBaseline:
  """A validation split as the compressors see it, their bits per unit on it, and the source
  entropy rate (bits per unit) when the corpus is synthetic and knows it."""
  split: compression.SplitData
  compressors: dict[str, float]
  entropy_bits: float | None
  train_bytes_per_token: float


@dataclasses.dataclass(frozen=True)
class RunRow:
  """One finished run: model bits per unit, parameter-file and training-data sizes (bytes)."""
  run_id: str
  n_params_non_embedding: int
  tokens: int
  loss: float
  bits: float
  parameter_bytes: int
  training_bytes: float


def _baseline(data_config: dict) -> CorpusBaseline:
  config = ml_collections.ConfigDict(data_config)
  prepared = pipeline.prepare(config)
  split = compression.validation_data(prepared)
  manifest = prepared.manifest
  entropy = manifest.get("source", {}).get("entropy_nats_per_token")
  if split.unit == "byte":
    train_bytes_per_token = manifest["train_bytes"] / manifest["train_tokens"]
  else:
    train_bytes_per_token = len(split.data) / split.units
  return CorpusBaseline(split, compression.compressed_bits_per_byte(split.data),
                        None if entropy is None else entropy / math.log(2),
                        train_bytes_per_token)


def collect(results_csv: str | pathlib.Path) -> tuple[list[RunRow], CorpusBaseline | None]:
  """Rows of the completed runs in results.csv (ordered by N, then D) and the baseline of their
  corpus. ValueError when the runs were trained on different data."""
  table = results_csv_lib.read_csv(results_csv)
  listed, results = [], []
  for run_id, status, curve_path in zip(table.texts(Column.RUN_ID), table.texts(Column.STATUS),
                                        table.texts(Column.CURVE_PATH)):
    if status != RunStatus.COMPLETED or not curve_path:
      continue
    # The run directory holds metrics.jsonl (curve_path, relative to the CSV's folder).
    result = result_lib.read_result((table.path.parent / curve_path).parent)
    if result is not None:
      listed.append(run_id)
      results.append(result)
  if not results:
    return [], None
  data_configs = {json.dumps(result["config"]["data"], sort_keys=True) for result in results}
  if len(data_configs) > 1:
    raise ValueError(f"{results_csv}: the runs were trained on {len(data_configs)} different "
                     "data configs; compare compression within one corpus")
  baseline = _baseline(results[0]["config"]["data"])
  rows = [RunRow(run_id, int(result["n_params_non_embedding"]), int(result["tokens"]),
                 float(result["final_eval_loss"]),
                 compression.model_bits_per_unit(result["final_eval_loss"], baseline.split),
                 BYTES_PER_PARAMETER * int(result["n_params_total"]),
                 result["tokens"] * baseline.train_bytes_per_token)
          for run_id, result in zip(listed, results)]
  return sorted(rows, key=lambda r: (r.n_params_non_embedding, r.tokens, r.run_id)), baseline


def plot(rows: list[RunRow], baseline: CorpusBaseline, path: pathlib.Path) -> pathlib.Path:
  """Bits per unit against N (coloured by D) and against D (coloured by N) beside the
  compressors; parameter-file size against training-data size."""
  unit = baseline.split.unit
  n_values = np.array([r.n_params_non_embedding for r in rows], dtype=np.float64)
  d_values = np.array([r.tokens for r in rows], dtype=np.float64)
  bits = np.array([r.bits for r in rows])
  figure, (by_n, by_d, sizes) = plt.subplots(1, 3, figsize=(16, 4.5))
  for axis, x, colour, name, colour_name in ((by_n, n_values, d_values, "N (parameters)", "D"),
                                             (by_d, d_values, n_values, "D (tokens)", "N")):
    points = axis.scatter(x, bits, c=colour, norm=colors.LogNorm(), cmap="viridis", zorder=3)
    figure.colorbar(points, ax=axis, label=colour_name)
    for (label, value), style in zip(baseline.compressors.items(), ("--", "-.", ":")):
      axis.axhline(value, color="gray", linestyle=style, label=label)
    if baseline.entropy_bits is not None:
      axis.axhline(baseline.entropy_bits, color="black", linewidth=0.8, label="source entropy")
    axis.set(xscale="log", xlabel=name, ylabel=f"bits per {unit}",
             title=f"validation bits per {unit} against {name.split()[0]}")
    axis.legend(fontsize=7)
  training = np.array([r.training_bytes for r in rows])
  parameter_bytes = np.array([r.parameter_bytes for r in rows], dtype=np.float64)
  sizes.scatter(training, parameter_bytes, c="C0", zorder=3)
  span = [min(training.min(), parameter_bytes.min()), max(training.max(), parameter_bytes.max())]
  sizes.plot(span, span, color="gray", linestyle="--", label="file = training data")
  sizes.set(xscale="log", yscale="log", xlabel="training data (bytes)",
            ylabel="parameter file (bytes, float32)", title="parameter file against its data")
  sizes.legend(fontsize=7)
  for axis in (by_n, by_d, sizes):
    axis.xaxis.set_minor_formatter(ticker.NullFormatter())
  figure.tight_layout()
  figure.savefig(path, dpi=110)
  plt.close(figure)
  return path


def section(results_csv: str | pathlib.Path, out_dir: str | pathlib.Path) -> list[str]:
  """The markdown lines of the section (and out_dir/compression.png). Empty when `results_csv`
  is not a sweep's results.csv with finished run directories beside it (a published table)."""
  if not pathlib.Path(results_csv).is_file():
    return []
  try:
    rows, baseline = collect(results_csv)
  except ValueError as error:
    return ["## Loss as compression", "", f"Skipped: {error}", ""]
  if not rows:
    return []
  out_dir = pathlib.Path(out_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  plot(rows, baseline, out_dir / FIGURE)
  split, unit = baseline.split, baseline.split.unit
  if unit == "byte":
    described = (f"the validation text ({split.units:,} bytes, {split.tokens:,} tokens, "
                 f"{split.units / split.tokens:.3f} bytes/token)")
  else:
    described = (f"the validation token ids ({split.tokens:,} tokens, packed as "
                 f"{len(split.data) // split.units} byte(s) each; this corpus has no text)")
  compressor_rows = [f"| {name} | {bits:.3f} |" for name, bits in baseline.compressors.items()]
  if baseline.entropy_bits is not None:
    compressor_rows.append(f"| source entropy rate (the floor) | {baseline.entropy_bits:.3f} |")
  run_rows = [f"| {r.run_id} | {r.n_params_non_embedding:,} | {r.tokens:,} | {r.loss:.4f} | "
              f"{r.bits:.3f} | {r.parameter_bytes:,} | {r.training_bytes:,.0f} | "
              f"{r.parameter_bytes / r.training_bytes:.3g} |" for r in rows]
  return [
      "## Loss as compression", "",
      f"Bits per {unit} on {described}: a model's held-out loss (nats/token) / ln 2 x tokens "
      f"per {unit}; the compressors (Python's gzip, bz2, lzma at level 9) on the same data: "
      f"8 x compressed bytes / raw bytes.", "",
      f"| compressor | bits/{unit} |", "| --- | --- |", *compressor_rows, "",
      f"| run | N (non-embedding) | D (tokens) | eval loss (nats/token) | bits/{unit} | "
      "parameter file (bytes) | training data (bytes) | file / data |",
      "| --- | --- | --- | --- | --- | --- | --- | --- |", *run_rows, "",
      f"![Bits per {unit} against N and D, and parameter-file size]({FIGURE})", ""]
