"""The report's learning-rate section from a sweep directory holding a finished search."""
import json
import math

import numpy as np
import pytest

from analysis.report import learning_rate
from configs.sweeps import tiny
from records import atomic, results_csv
from scaling import lr_fit, lr_search, published_hparams

Column = results_csv.Column


def _sweep_dir(tmp_path):
  """A sweep whose search found lr*(N) = 0.05 (N / 1e4)^-0.5 at 1e4, 2e4, 4e4 (exact parabolas)
  and whose two runs trained at the law and at twice it."""
  sizes, rule = [], tiny.get_config().hparams.learning_rate
  for n in (10_000, 20_000, 40_000):
    best = 0.05 * (n / 1e4) ** -0.5
    rates = best * 2.0 ** np.arange(-2, 3) * 1.1
    optimum = lr_fit.fit_optimum(rates, 3 + 0.1 * np.log(rates / best) ** 2)
    point = published_hparams.Point(non_embedding_params=n, total_params=n + 4096,
                                    tokens=1.6e4, n_layers=2, d_model=32, seq_len=64)
    sizes.append(lr_search.SizeOptimum(size=f"n{n}", non_embedding_params=n, tokens=16_384,
                                       optimum=optimum, extensions=0, point=point))
  law = lr_fit.fit_law([size.non_embedding_params for size in sizes],
                       [size.optimum.learning_rate for size in sizes])
  (tmp_path / lr_search.SEARCH_DIR).mkdir(parents=True)
  atomic.write_json_atomic(tmp_path / lr_search.SEARCH_DIR / lr_search.LAW_FILE,
                           lr_search.law_record(rule, law, ["n10000", "n20000", "n40000"], sizes,
                                                ["a warning"]))
  rows = [{Column.RUN_ID: run_id, Column.N_PARAMS_TOTAL: n + 4096,
           Column.N_PARAMS_NON_EMBEDDING: n, Column.TOKENS: 65_536, Column.FLOPS_EXACT: 1e10,
           Column.FINAL_EVAL_LOSS: 3.0, Column.STATUS: "completed",
           Column.PEAK_LEARNING_RATE: rate}
          for run_id, n, rate in (("a", 10_000, 0.05), ("b", 40_000, 0.05))]
  results_csv.write_results(tmp_path / "results.csv", rows)
  return tmp_path


def test_section_shows_optima_law_published_laws_and_distances(tmp_path):
  sweep_dir = _sweep_dir(tmp_path / "sweep")
  lines, block = learning_rate.section(sweep_dir / "results.csv", tmp_path)
  text = "\n".join(lines)
  assert "**LR\\*(N) = " in text and "N^-0.500" in text
  assert block["law"]["n_exponent"] == pytest.approx(-0.5)
  assert [size["learning_rate"] for size in block["sizes"]] == pytest.approx(
      [0.05, 0.05 / math.sqrt(2), 0.025])
  distances = {row["run_id"]: row["log2_distance"] for row in block["run_distances"]}
  assert distances == pytest.approx({"a": 0.0, "b": 1.0})
  steplaw = block["published_learning_rates"]["steplaw"]
  assert steplaw[0] == pytest.approx(1.79 * 1e4 ** -0.713 * 1.6e4 ** 0.307)
  assert block["published_laws"]["deepseek"]["fitted_range"] == [1e17, 2e19]
  assert "- warning: a warning" in lines
  for name in learning_rate.FIGURES:
    assert (tmp_path / name).stat().st_size > 0
  json.dumps(block)  # fits.json can hold it


def test_no_search_no_section(tmp_path):
  assert learning_rate.section(tmp_path / "results.csv", tmp_path) == ([], None)
  rows = [{Column.RUN_ID: "a", Column.N_PARAMS_TOTAL: 1, Column.N_PARAMS_NON_EMBEDDING: 1,
           Column.TOKENS: 1, Column.FLOPS_EXACT: 1.0, Column.FINAL_EVAL_LOSS: 3.0,
           Column.STATUS: "completed"}]
  results_csv.write_results(tmp_path / "results.csv", rows)
  assert learning_rate.section(tmp_path / "results.csv", tmp_path) == ([], None)
