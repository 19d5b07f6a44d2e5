"""The run record's contract: the result.json of a real tiny run goes through `scaling.collect`
into results.csv and `analysis.observations.Observations`, and every column reads back as the
run wrote it (records.result keys, records.results_csv columns)."""
import dataclasses

import jax
import numpy as np
import pytest

from analysis.table import observations
from records import atomic, layout, result as result_lib, results_csv, status
from scaling import collect
from training import loop

Column, Key = results_csv.Column, result_lib.Key
BUDGET = 3.5e9  # FLOPs: the IsoFLOP budget the sweep table gives the run


@pytest.mark.slow  # compiles a train and an eval step
def test_a_real_run_reads_back_column_by_column(tiny_config, tmp_path):
  tiny_config.train.update(train_tokens=512, warmup_tokens=256, eval_every_tokens=0,
                           eval_tokens=256, ckpt_every_tokens=0)  # 2 steps, one eval at the end
  run_dir = tmp_path / layout.RUNS_DIR / "r0"
  returned = loop.train_and_evaluate(tiny_config, run_dir, devices=jax.devices()[:1])
  atomic.write_json_atomic(tmp_path / layout.SWEEP_FILE,
                           {"runs": [{"run_id": "r0", "compute_budget": BUDGET}]})
  written = result_lib.read_result(run_dir)
  result_lib.check_result(written)  # every key the loop writes is in the schema
  assert written[Key.STATUS] == status.RunStatus.COMPLETED == returned[Key.STATUS]

  expected = {
      Column.RUN_ID: "r0",
      Column.SEED: tiny_config.seed,
      Column.N_LAYERS: tiny_config.model.n_layers,
      Column.D_MODEL: tiny_config.model.d_model,
      Column.CURVE_PATH: str((run_dir / layout.METRICS_FILE).resolve()),
      Column.COMPUTE_BUDGET: BUDGET,
      Column.PEAK_LEARNING_RATE: tiny_config.optimizer.peak_learning_rate,
      Column.BATCH_SIZE: tiny_config.train.batch_size,
      **{column: written.get(column) for column in (
          Column.N_PARAMS_TOTAL, Column.N_PARAMS_NON_EMBEDDING, Column.TOKENS, Column.FLOPS_6ND,
          Column.FLOPS_EXACT, Column.FINAL_EVAL_LOSS, Column.FINAL_TRAIN_LOSS, Column.STATUS,
          Column.WALL_SECONDS, Column.BITS_PER_BYTE, Column.LOSS_FLOOR, Column.SCHEDULE,
          Column.BRANCH_TOKENS, Column.DECAY_TOKENS, Column.FLOPS_SPENT)},
      Column.TRUNK_ID: None,  # not a branch: an empty cell
  }
  assert written[Key.TRUNK_ID] == "" and written[Key.SCHEDULE] == "cosine"
  assert written[Key.FLOPS_SPENT] == written[Key.FLOPS_EXACT]
  assert set(expected) == set(results_csv.COLUMNS)  # a new column needs its check here
  path = collect.write_results(tmp_path)
  assert path == tmp_path / layout.RESULTS_FILE
  table = results_csv.read_results(path)
  for column in results_csv.COLUMNS:
    assert table.values(column) == [expected[column]], column

  runs = observations.Observations.from_results_csv(path)
  read_back = {
      "run_id": Column.RUN_ID, "n_total": Column.N_PARAMS_TOTAL,
      "n_non_embedding": Column.N_PARAMS_NON_EMBEDDING, "d": Column.TOKENS,
      "flops_6nd": Column.FLOPS_6ND, "flops_exact": Column.FLOPS_EXACT,
      "loss": Column.FINAL_EVAL_LOSS, "seed": Column.SEED, "status": Column.STATUS,
      "curve_path": Column.CURVE_PATH, "budget": Column.COMPUTE_BUDGET,
      "flops_spent": Column.FLOPS_SPENT}
  fields = {field.name for field in dataclasses.fields(runs)} - {"source"}
  assert set(read_back) | {"trunk_id", "loss_floor"} == fields  # a new field needs its check
  for field, column in read_back.items():
    assert list(getattr(runs, field)) == [expected[column]], field
  assert list(runs.trunk_id) == [""] and runs.bootstrap_blocks() is None
  assert Key.LOSS_FLOOR not in written and np.isnan(runs.loss_floor).all()  # markov: no floor
  assert runs.source == str(path)
  kept, warnings = runs.clean()
  assert len(kept) == 1 and warnings == []

  tokens, losses = observations.load_curve(runs.curve_path[0])
  assert tokens[-1] == written[Key.TOKENS] and losses[-1] == written[Key.FINAL_EVAL_LOSS]
