"""Runs of a sweep: resolved configs, stable run ids, run directories and the run table.

A run's id is `<size label>-<D>-<first 8 hex of the resolved config's sha256>`, so the same
resolved config always gives the same id and the same directory `SWEEP/runs/<id>/`, in any
process. `SWEEP/sweep.json` holds the run table: every run the sweep config has ever listed
(editing the grid adds runs; runs no longer listed keep their rows and directories).

A sweep directory holds one sweep. Its identity, recorded in sweep.json, is everything that makes a
run's config besides the grid: the base run config (`sweep.base`, less `schema.UNHASHED_SECTIONS`:
where metrics are sent), the per-size hyperparameter rules (`sweep.hparams`; `table` labels may come
and go) and the schedule (`sweep.schedule`). The grid (`sweep.grid`, `sweep.seeds`) may grow or
change; the launch settings (`sweep.launch`) and the name are not part of it.
"""
import collections
import dataclasses
import pathlib
from typing import Any

import ml_collections

from configs import schema
from records import atomic
from records import layout
from scaling import grid, ladder, tables
from training import branch as branch_lib
from training import budget as budget_lib

IDENTITY_FIELDS = ("base", "hparams", "schedule")
_SHOWN_DIFFERENCES = 4


@dataclasses.dataclass(frozen=True)
class PlannedRun:
  """A run with its resolved config, id and directory."""
  spec: grid.RunSpec
  config: ml_collections.ConfigDict
  run_id: str
  run_dir: pathlib.Path
  merged_from: tuple[tuple[str, ...], ...] = ()  # sources of other grid entries giving this run
  trunk_id: str = ""  # a branch's trunk (scaling/ladder.py); '' for other runs

  def branch_point(self) -> branch_lib.BranchPoint | None:
    """Where the run leaves its trunk (None unless it is a branch)."""
    return branch_lib.branch_point(self.config, budget_lib.compute_budget(self.config),
                                   self.run_dir)

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
        flops_exact=self.spec.flops_exact, flops_spent=self.spec.spent_flops_exact,
        compute_budget=self.spec.compute_budget,
        schedule=self.config.optimizer.schedule, trunk_id=self.trunk_id,
        branch_tokens=self.spec.branch_tokens,
        branch_points=list(self.config.train.branch_point_tokens),
        batch_size=self.config.train.batch_size,
        peak_learning_rate=self.config.optimizer.peak_learning_rate,
        run_dir=str(pathlib.Path(layout.RUNS_DIR) / self.run_id))


def run_id(spec: grid.RunSpec) -> str:
  """`<size label>-<D>-<hash[:8] of the run's resolved config>`, e.g. 'n1m-2.1m-0f3a9c1e'."""
  return f"{spec.shape.label}-{tables.format_count(spec.tokens)}-{spec.config_hash[:8]}"


def plan(sweep: ml_collections.ConfigDict, sweep_dir: pathlib.Path,
         specs: list[grid.RunSpec] | None = None) -> list[PlannedRun]:
  """Expands the sweep (or takes its runs `specs`) into runs under `sweep_dir`, branched when
  the sweep is a ladder; writes nothing. Raises ValueError if bad.

  Grid entries that resolve to the same run (two target sizes rounding to one shape, two token
  budgets rounding to the same steps) give it once; its `merged_from` names the others.
  """
  first: dict[str, tuple[grid.RunSpec, ml_collections.ConfigDict, str]] = {}
  merged: dict[str, list[tuple[str, ...]]] = collections.defaultdict(list)
  specs = grid.expand(sweep) if specs is None else specs
  if ladder.applies(sweep):
    specs = ladder.branched(sweep, specs)
  trunk_ids: dict[int, str] = {}  # id(trunk spec) -> its run id; trunks come first
  for spec in specs:
    trunk_id = trunk_ids[id(spec.trunk)] if spec.trunk is not None else ""
    if trunk_id:
      spec = dataclasses.replace(spec, overrides={**spec.overrides,
                                                  "train.branch_from": f"../{trunk_id}"})
    config = spec.config
    identifier = run_id(spec)
    if spec.is_trunk:
      trunk_ids[id(spec)] = identifier
    if identifier in first:
      merged[identifier].append(spec.source)
    else:
      first[identifier] = (spec, config, trunk_id)
  return [PlannedRun(spec=spec, config=config, run_id=identifier,
                     run_dir=pathlib.Path(sweep_dir) / layout.RUNS_DIR / identifier,
                     merged_from=tuple(merged[identifier]), trunk_id=trunk_id)
          for identifier, (spec, config, trunk_id) in first.items()]


def merge_notices(planned: list[PlannedRun]) -> list[str]:
  """One line per pair of grid entries that resolve to the same runs (trained once)."""
  counts: dict[tuple[str, str], int] = collections.Counter()
  for run in planned:
    for source in run.merged_from:
      kept = [entry for entry in run.spec.source if entry not in source]
      dropped = [entry for entry in source if entry not in run.spec.source]
      counts[(", ".join(dropped), ", ".join(kept))] += 1
  return [f"notice: {dropped} gives the same {'run' if count == 1 else f'{count} runs'} as "
          f"{kept}; each is trained once (drop one of the entries to silence this)"
          for (dropped, kept), count in counts.items()]


def sweep_identity(sweep: ml_collections.ConfigDict) -> dict[str, Any]:
  """What makes the runs of `sweep` besides the grid, as JSON (see the module docstring).

  The learning-rate search's fields count only when the sweep searches (`rule='search'`)."""
  identity = {name: schema.config_to_dict(sweep[name]) for name in IDENTITY_FIELDS}
  for section in schema.UNHASHED_SECTIONS:
    identity["base"].pop(section, None)
  for section in schema.LATER_FIELDS:
    identity["base"][section] = schema.without_later_defaults(section, identity["base"][section])
  learning_rate = identity["hparams"]["learning_rate"]
  if learning_rate["rule"] != "search":
    for key in [key for key in learning_rate if key.startswith("search_")]:
      del learning_rate[key]
  return identity


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
  """Nested dicts as {dotted key: leaf}; empty dicts vanish."""
  if not isinstance(value, dict):
    return {prefix: value}
  flat = {}
  for key, item in value.items():
    flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
  return flat


def identity_differences(recorded: dict[str, Any], identity: dict[str, Any]) -> list[str]:
  """'field: old -> new' for every field where `identity` leaves the `recorded` sweep.

  A label added to or dropped from a per-size `table` rule (a size the grid gains or loses) is a
  change of the grid, not of the sweep; a changed value is.
  """
  old, new = _flatten(recorded), _flatten(identity)
  differences = []
  for key in sorted(set(old) | set(new)):
    if old.get(key) == new.get(key) or (".table." in key and (key not in old or key not in new)):
      continue
    differences.append(f"{key}: {old.get(key, '(absent)')} -> {new.get(key, '(absent)')}")
  return differences


def check_same_sweep(sweep: ml_collections.ConfigDict, sweep_dir: pathlib.Path) -> None:
  """Raises ValueError when `sweep_dir` holds runs of a sweep that differs beyond the grid."""
  table = atomic.read_json(pathlib.Path(sweep_dir) / layout.SWEEP_FILE)
  if not table or "identity" not in table:
    return
  differences = identity_differences(table["identity"], sweep_identity(sweep))
  if not differences:
    return
  shown = "; ".join(differences[:_SHOWN_DIFFERENCES])
  more = len(differences) - _SHOWN_DIFFERENCES
  raise ValueError(
      f"--workdir={sweep_dir} holds sweep {table.get('name')!r} with other settings ({shown}"
      f"{f'; and {more} more' if more > 0 else ''}); runs that differ beyond the grid are "
      f"another sweep: choose another --workdir, or delete {sweep_dir} to replace it")


def config_json(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The resolved config as written to `RUNDIR/config.json`."""
  return schema.config_to_dict(config)


def materialize(planned: list[PlannedRun], sweep_dir: pathlib.Path, sweep_name: str,
                lease_stale_seconds: float = 60.0,
                identity: dict[str, Any] | None = None) -> None:
  """Creates each run directory with its config.json (kept if present) and updates sweep.json.

  sweep.json also records the lease timeout, so that `status` judges leases as the launcher does,
  and the sweep's `identity` (`sweep_identity`; the recorded one is kept when None).
  """
  sweep_dir = pathlib.Path(sweep_dir)
  for run in planned:
    run.run_dir.mkdir(parents=True, exist_ok=True)
    config_path = run.run_dir / layout.CONFIG_FILE
    if not config_path.exists():
      atomic.write_json_atomic(config_path, config_json(run.config))
  table = atomic.read_json(sweep_dir / layout.SWEEP_FILE) or {"runs": []}
  rows = {row["run_id"]: row for row in table["runs"]}
  for run in planned:
    rows.setdefault(run.run_id, run.row())
  identity = identity if identity is not None else table.get("identity")
  atomic.write_json_atomic(sweep_dir / layout.SWEEP_FILE, {
      "name": sweep_name, "lease_stale_seconds": lease_stale_seconds,
      "runs": list(rows.values()), **({"identity": identity} if identity is not None else {})})

