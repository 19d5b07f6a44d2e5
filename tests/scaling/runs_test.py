"""Run ids, resolved configs and run directories."""
import pathlib
import subprocess
import sys

import pytest

from configs import resolved
from configs import schema
from configs.sweeps import ladder_tiny, tiny
from scaling import rundir, runs

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_ids_are_stable_across_processes(tmp_path):
  ids = [run.run_id for run in runs.plan(tiny.get_config(), tmp_path)]
  script = ("from configs.sweeps import tiny; from scaling import runs; "
            "print(' '.join(r.run_id for r in runs.plan(tiny.get_config(), '/elsewhere')))")
  other = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True,
                         text=True, check=True).stdout.split()
  assert ids == other
  assert len(set(ids)) == 6
  assert ids[0].startswith("n10p3k-65.5k-")


def test_id_is_the_config_hash_and_seed_changes_it(tmp_path):
  sweep = tiny.get_config("seeds=2")
  planned = runs.plan(sweep, tmp_path)
  assert len(planned) == 12
  for run in planned:
    assert run.run_id.endswith(schema.config_hash(run.config)[:8])
    assert run.run_dir == tmp_path / "runs" / run.run_id
  assert planned[0].config.seed == 0 and planned[1].config.seed == 1
  assert planned[0].run_id != planned[1].run_id


def test_run_ids_and_hashes_are_pinned(tmp_path):
  # Existing sweeps resume by these ids: a change here renames their runs.
  planned = runs.plan(tiny.get_config(), tmp_path)
  assert [run.run_id for run in planned] == [
      "n10p3k-65.5k-a29254f3", "n10p3k-131k-a66f7649", "n20p6k-65.5k-4b01dff2",
      "n20p6k-131k-5a8243ab", "n41p2k-65.5k-2b8d43a6", "n41p2k-131k-bdcab9a4"]
  assert schema.config_hash(planned[0].config) == (
      "a29254f3212eab6dea84fa1f4f6fff26df934b4198cd2293600160fba8eeab61")
  ladder = runs.plan(ladder_tiny.get_config(), tmp_path)
  assert [run.run_id for run in ladder] == [
      "n10p3k-66.6k-c0ebe028", "n20p6k-132k-eb1b3331", "n10p3k-20.5k-687a9b2a",
      "n10p3k-41k-a7978c91", "n10p3k-82.9k-063aa62a", "n20p6k-41k-14ec4ba2",
      "n20p6k-82.9k-6032cb37", "n20p6k-165k-69897af7"]


def test_materialize_writes_configs_that_load_back_to_the_same_hash(tmp_path):
  planned = runs.plan(tiny.get_config(), tmp_path)
  runs.materialize(planned, tmp_path, "tiny")
  for run in planned:
    loaded = resolved.get_config(str(run.run_dir / "config.json"))
    assert schema.config_hash(loaded) == schema.config_hash(run.config)
  table = rundir.read_table(tmp_path)
  assert [row["run_id"] for row in table] == [run.run_id for run in planned]
  assert table[0]["flops_6nd"] == 6 * table[0]["n_params_non_embedding"] * table[0]["tokens"]


def test_editing_the_sweep_adds_runs_and_keeps_existing_ones(tmp_path):
  first = runs.plan(tiny.get_config(), tmp_path)
  runs.materialize(first, tmp_path, "tiny")
  marker = first[0].run_dir / "config.json"
  before = marker.read_text()
  edited = tiny.get_config()
  edited.grid.sizes = (20_000, 80_000)
  second = runs.plan(edited, tmp_path)
  runs.materialize(second, tmp_path, "tiny")
  table_ids = [row["run_id"] for row in rundir.read_table(tmp_path)]
  assert table_ids[:6] == [run.run_id for run in first]
  assert {run.run_id for run in second} <= set(table_ids)
  assert len(table_ids) == 8
  assert marker.read_text() == before
  assert {run.run_id for run in first} & {run.run_id for run in second} == {
      run.run_id for run in first if run.spec.shape.label == "n20p6k"}


def test_read_table_without_a_sweep(tmp_path):
  with pytest.raises(ValueError, match="holds no sweep.json; launch a sweep there first"):
    rundir.read_table(tmp_path)


def test_a_later_field_joins_the_sweep_identity_only_when_set():
  sweep = tiny.get_config()
  identity = runs.sweep_identity(sweep)  # as a sweep.json from before the field was added
  assert "synthetic_teacher_width" not in identity["base"]["data"]
  sweep.base.data.synthetic_teacher_width = 64
  assert runs.identity_differences(identity, runs.sweep_identity(sweep)) == [
      "base.data.synthetic_teacher_width: (absent) -> 64"]
