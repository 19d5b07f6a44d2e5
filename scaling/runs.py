"""Runs of a sweep: resolved configs, stable run ids, run directories and the run table.

A run's id is `<size label>-<D>-<first 8 hex of the resolved config's sha256>`, so the same
resolved config always gives the same id and the same directory `SWEEP/runs/<id>/`, in any
process. `SWEEP/sweep.json` holds the run table: every run the sweep config has ever listed
(editing the config adds runs; runs no longer listed keep their rows and directories).
"""
import dataclasses
import pathlib
from typing import Any

import ml_collections

from records import atomic
from scaling import grid, rundir, tables
from training import run_config

SWEEP_FILE = rundir.SWEEP_FILE
RUNS_DIR = rundir.RUNS_DIR


@dataclasses.dataclass(frozen=True)
class PlannedRun:
  """A run with its resolved config, id and directory."""
  spec: grid.RunSpec
  config: ml_collections.ConfigDict
  run_id: str
  run_dir: pathlib.Path

  def row(self) -> dict[str, Any]:
    """The run's row in the run table (sweep.json); params and tokens are counts."""
    shape = self.spec.shape
    model = self.config.model
    return dict(
        run_id=self.run_id, size=shape.label, seed=self.spec.seed,
        n_layers=model.n_layers, d_model=model.d_model, n_heads=model.n_heads,
        n_kv_heads=model.n_kv_heads, d_ff=model.d_ff,
        n_params_non_embedding=shape.non_embedding_params, n_params_total=shape.total_params,
        tokens=self.spec.tokens, flops_6nd=self.spec.flops_6nd,
        flops_exact=self.spec.flops_exact, compute_budget=self.spec.compute_budget,
        batch_size=self.config.train.batch_size,
        peak_learning_rate=self.config.optimizer.peak_learning_rate,
        run_dir=str(pathlib.Path(RUNS_DIR) / self.run_id))


def run_id(spec: grid.RunSpec, config: ml_collections.ConfigDict) -> str:
  """`<size label>-<D>-<config hash[:8]>`, e.g. 'n1m-2.1m-0f3a9c1e'."""
  config_hash = run_config.config_hash(config)
  return f"{spec.shape.label}-{tables.format_count(spec.tokens)}-{config_hash[:8]}"


def plan(sweep: ml_collections.ConfigDict, sweep_dir: pathlib.Path) -> list[PlannedRun]:
  """Expands the sweep into runs under `sweep_dir`; writes nothing. Raises ValueError if bad."""
  planned = []
  seen = set()
  for spec in grid.expand(sweep):
    config = grid.apply_overrides(sweep.base, spec.overrides)
    identifier = run_id(spec, config)
    if identifier in seen:
      continue
    seen.add(identifier)
    planned.append(PlannedRun(spec=spec, config=config, run_id=identifier,
                              run_dir=pathlib.Path(sweep_dir) / RUNS_DIR / identifier))
  return planned


def config_json(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The resolved config as written to `RUNDIR/config.json`."""
  return run_config.config_to_dict(config)


def materialize(planned: list[PlannedRun], sweep_dir: pathlib.Path, sweep_name: str,
                lease_stale_seconds: float = 60.0) -> None:
  """Creates each run directory with its config.json (kept if present) and updates sweep.json.

  sweep.json also records the lease timeout, so that `status` judges leases as the launcher does.
  """
  sweep_dir = pathlib.Path(sweep_dir)
  for run in planned:
    run.run_dir.mkdir(parents=True, exist_ok=True)
    config_path = run.run_dir / rundir.CONFIG_FILE
    if not config_path.exists():
      atomic.write_json_atomic(config_path, config_json(run.config))
  table = rundir.read_json(sweep_dir / SWEEP_FILE) or {"runs": []}
  rows = {row["run_id"]: row for row in table["runs"]}
  for run in planned:
    rows.setdefault(run.run_id, run.row())
  atomic.write_json_atomic(sweep_dir / SWEEP_FILE, {
      "name": sweep_name, "lease_stale_seconds": lease_stale_seconds,
      "runs": list(rows.values())})

