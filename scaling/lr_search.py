"""The learning-rate search of a sweep (`sweep.hparams.learning_rate.rule='search'`).

Before the sweep's runs, every `search_every`-th size (sizes ordered by non-embedding N) is
trained at `search_values` peak learning rates, `search_factor` apart and centred on the rule's
`power_law` fields (the base value when `reference_value` is 0), on that size's cheapest budget
(smallest D; in an IsoFLOP grid, the sizes of the smallest compute budget) with the sweep's
first seed. In a ladder the probes are trained as the ladder trains its runs: a constant-LR
trunk and a decay branch. The probes are a sweep of their own in `SWEEP/lr_search/` (its
sweep.json, runs/ and results.csv; `python -m scaling status --workdir=SWEEP/lr_search`).

Each size's optimum comes from a log-quadratic in ln(learning rate) (`scaling.lr_fit`). A size
whose optimum sits at an edge of its grid is flagged, and its grid is extended by one learning
rate past that edge, up to `search_extensions` times (never upward past a learning rate that
diverged; diverged probes have no loss and are left out of the fit). The law LR*(N) = k N^alpha
is then fitted to the sizes whose optimum is interior (to every size when fewer than two are),
and the sweep's runs train with it: their learning rate is that power law of their N. In a
ladder the sweep's trunks start afresh at the law's learning rate: no probe trunk shares it.
The law and the per-size optima are in `SWEEP/lr_search/learning_rate.json`, which the report
reads. Every step is a pure
function of the probes' results, so relaunching the sweep gives the same law and the same runs.
D is not a variable of the law: each size is probed at one budget.
"""
import collections
import dataclasses
import math
import pathlib
from typing import Any, Callable

import ml_collections

from records import atomic
from records import results_csv
from records import status as status_lib
from scaling import collect, grid, hparams, lr_fit, published_hparams, runs

SEARCH_DIR = "lr_search"
LAW_FILE = "learning_rate.json"
LEVEL = 0.95
Column = results_csv.Column


def applies(sweep: ml_collections.ConfigDict) -> bool:
  """Whether the sweep searches its learning rate."""
  return sweep.hparams.learning_rate.rule == hparams.SEARCH


def check(sweep: ml_collections.ConfigDict) -> None:
  """Raises ValueError (one line) for a search the grid cannot run."""
  hparams.check_rule("learning_rate", sweep.hparams.learning_rate)
  if sweep.grid.kind == "points":
    raise ValueError("sweep.hparams.learning_rate.rule='search' needs an n_by_d, ladder or "
                     "isoflop grid (sizes with budgets); give explicit learning rates to a "
                     "points grid with rule='table' or 'power_law'")


def centred(sweep: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The sweep with the search's centre as its learning-rate rule (power_law, or base)."""
  copy = sweep.copy_and_resolve_references()
  rule = copy.hparams.learning_rate
  rule.rule = "power_law" if rule.reference_value > 0 else "base"
  return copy


def with_law(sweep: ml_collections.ConfigDict, law: lr_fit.LearningRateLaw,
             reference_params: float) -> ml_collections.ConfigDict:
  """The sweep whose runs train at the fitted law: a power_law rule through `reference_params`."""
  copy = sweep.copy_and_resolve_references()
  copy.hparams.learning_rate.update(
      rule="power_law", reference_params=float(reference_params),
      reference_value=float(law(reference_params)), exponent=float(law.n_exponent))
  return copy


def initial_offsets(rule: ml_collections.ConfigDict) -> tuple[float, ...]:
  """Grid positions in factors of `search_factor` about the centre: -2..2 for 5 values."""
  count = int(rule.search_values)
  return tuple(index - (count - 1) / 2 for index in range(count))


def searched_specs(sweep: ml_collections.ConfigDict) -> list[grid.RunSpec]:
  """The cheapest-budget run (first seed, centre LR) of every `search_every`-th size by N."""
  cheapest: dict[str, grid.RunSpec] = {}
  for spec in grid.expand(centred(sweep)):
    if spec.seed != sweep.seeds[0]:
      continue
    kept = cheapest.get(spec.shape.label)
    if kept is None or spec.tokens < kept.tokens:
      cheapest[spec.shape.label] = spec
  ordered = sorted(cheapest.values(), key=lambda spec: spec.shape.non_embedding_params)
  return ordered[::int(sweep.hparams.learning_rate.search_every)]


def probe_specs(sweep: ml_collections.ConfigDict,
                offsets: dict[str, tuple[float, ...]]) -> list[grid.RunSpec]:
  """The probe runs: each searched size at centre x factor^offset for each of its offsets."""
  factor = float(sweep.hparams.learning_rate.search_factor)
  probes = []
  for spec in searched_specs(sweep):
    centre = spec.overrides["optimizer.peak_learning_rate"]
    for offset in offsets[spec.shape.label]:
      probes.append(dataclasses.replace(
          spec, overrides={**spec.overrides,
                           "optimizer.peak_learning_rate": float(centre * factor ** offset)},
          source=(*spec.source, f"learning-rate search: centre x {factor:g}^{offset:g}")))
  return probes


def plan_probes(sweep: ml_collections.ConfigDict, sweep_dir: pathlib.Path,
                offsets: dict[str, tuple[float, ...]] | None = None) -> list[runs.PlannedRun]:
  """The probe runs planned under `SWEEP/lr_search` (the initial grid when `offsets` is None)."""
  if offsets is None:
    start = initial_offsets(sweep.hparams.learning_rate)
    offsets = {spec.shape.label: start for spec in searched_specs(sweep)}
  return runs.plan(sweep, pathlib.Path(sweep_dir) / SEARCH_DIR, probe_specs(sweep, offsets))


@dataclasses.dataclass(frozen=True)
class SizeOptimum:
  """One searched size: its counts, budget, optimum and how often its grid was extended;
  `point` is what the published laws read of it (`scaling.published_hparams`)."""
  size: str
  non_embedding_params: int
  tokens: int
  optimum: lr_fit.Optimum
  extensions: int
  point: published_hparams.Point
  diverged_above: bool = False  # a probe above the highest finished learning rate diverged

  def to_json(self) -> dict:
    return dict(size=self.size, n_params_non_embedding=self.non_embedding_params,
                tokens=self.tokens, extensions=self.extensions,
                diverged_above=self.diverged_above, point=dataclasses.asdict(self.point),
                **self.optimum.to_json())


def size_optima(rows: list[dict[Column, Any]], probes: list[runs.PlannedRun],
                extensions: dict[str, int]) -> tuple[list[SizeOptimum], list[str]]:
  """Each searched size's optimum from the probes' results (results.csv rows; N, D and the
  learning rate from the planned `probes`), and a warning per size that has fewer than 3
  finished learning rates."""
  planned = {run.run_id: run for run in probes if not run.spec.is_trunk}
  sizes = {(run.spec.shape.non_embedding_params, run.spec.tokens): run
           for run in planned.values()}
  points, diverged = collections.defaultdict(list), collections.defaultdict(list)
  for row in rows:
    run = planned.get(row[Column.RUN_ID])
    if run is None:
      continue
    key = (run.spec.shape.non_embedding_params, run.spec.tokens)
    loss = row.get(Column.FINAL_EVAL_LOSS)
    if loss is not None and math.isfinite(float(loss)):
      points[key].append((run.config.optimizer.peak_learning_rate, float(loss)))
    elif row.get(Column.STATUS) == status_lib.RunStatus.DIVERGED:
      diverged[key].append(run.config.optimizer.peak_learning_rate)
  optima, warnings = [], []
  for (n, tokens), run in sorted(sizes.items()):
    label = run.spec.shape.label
    found = sorted(points[(n, tokens)])
    if len({lr for lr, _ in found}) < hparams.MIN_SEARCH_VALUES:
      warnings.append(f"learning-rate search: size {label} has {len(found)} finished learning "
                      f"rates (the others diverged or failed); it is left out of the law")
      continue
    optimum = lr_fit.fit_optimum([lr for lr, _ in found], [loss for _, loss in found],
                                 level=LEVEL)
    optima.append(SizeOptimum(
        size=label, non_embedding_params=n, tokens=tokens, optimum=optimum,
        extensions=extensions.get(label, 0),
        point=grid.published_point(run.config.model, run.spec.shape, tokens),
        diverged_above=any(rate > found[-1][0] for rate in diverged[(n, tokens)])))
  return optima, warnings


def extend(offsets: dict[str, tuple[float, ...]], optima: list[SizeOptimum],
           extensions: dict[str, int], limit: int) -> bool:
  """Adds one grid position past the edge of each edge optimum with extensions left (in place),
  except above a grid whose higher learning rates diverged; whether any grid grew."""
  grew = False
  for size in optima:
    blocked = size.optimum.edge == lr_fit.HIGH and size.diverged_above
    if size.optimum.edge and not blocked and extensions.get(size.size, 0) < limit:
      current = offsets[size.size]
      added = min(current) - 1 if size.optimum.edge == lr_fit.LOW else max(current) + 1
      offsets[size.size] = tuple(sorted((*current, added)))
      extensions[size.size] = extensions.get(size.size, 0) + 1
      grew = True
  return grew


def fit_law(optima: list[SizeOptimum], centre_exponent: float
            ) -> tuple[lr_fit.LearningRateLaw, list[str], list[str]]:
  """LR*(N) from the interior optima (all of them when fewer than two are interior); with one
  size, its optimum with the centre rule's exponent. Returns the law, the sizes it used and
  warning lines."""
  if not optima:
    raise ValueError("learning-rate search: no searched size has 3 finished learning rates; "
                     f"see {SEARCH_DIR}/ with `python -m scaling status`, and lower "
                     "sweep.hparams.learning_rate.reference_value or search_factor")
  interior = [size for size in optima if not size.optimum.edge]
  used = interior if len(interior) >= 2 else optima
  warnings = [f"learning-rate search: size {size.size}'s optimum sits at the {size.optimum.edge} "
              f"edge of its grid after {size.extensions} extensions"
              for size in optima if size.optimum.edge]
  if len(used) == 1:
    only = used[0]
    warnings.append(f"learning-rate search: one size ({only.size}) gives the law; its exponent "
                    f"is the centre rule's ({centre_exponent:g})")
    law = lr_fit.LearningRateLaw(
        coefficient=only.optimum.learning_rate / only.non_embedding_params ** centre_exponent,
        n_exponent=centre_exponent, n_exponent_interval=(math.nan, math.nan), d_exponent=0.0,
        d_exponent_interval=None, level=LEVEL, n_points=1)
  else:
    law = lr_fit.fit_law([size.non_embedding_params for size in used],
                         [size.optimum.learning_rate for size in used], level=LEVEL)
  return law, [size.size for size in used], warnings


Train = Callable[[list[runs.PlannedRun], pathlib.Path], bool]


def search(sweep: ml_collections.ConfigDict, sweep_dir: pathlib.Path, train: Train
           ) -> tuple[ml_collections.ConfigDict | None, list[str]]:
  """Trains the probes (`train(planned, SWEEP/lr_search)`, False when interrupted), extends
  edge grids, fits the law and writes `learning_rate.json`. Returns the sweep that trains with
  the law (None when interrupted) and the search's warning lines."""
  check(sweep)
  rule = sweep.hparams.learning_rate
  search_dir = pathlib.Path(sweep_dir) / SEARCH_DIR
  offsets = {spec.shape.label: initial_offsets(rule) for spec in searched_specs(sweep)}
  extensions: dict[str, int] = {}
  while True:
    probes = plan_probes(sweep, sweep_dir, offsets)
    if not train(probes, search_dir):
      return None, []
    optima, warnings = size_optima(collect.collect(search_dir), probes, extensions)
    if not extend(offsets, optima, extensions, int(rule.search_extensions)):
      break
  law, used, law_warnings = fit_law(optima, float(rule.exponent))
  record = law_record(rule, law, used, optima, warnings + law_warnings)
  atomic.write_json_atomic(search_dir / LAW_FILE, record)
  return with_law(sweep, law, record["reference_params"]), record["warnings"]


def law_record(rule: ml_collections.ConfigDict, law: lr_fit.LearningRateLaw, used: list[str],
               optima: list[SizeOptimum], warnings: list[str]) -> dict[str, Any]:
  """What `learning_rate.json` holds: the law (through `reference_params`, the geometric mean
  N of the searched sizes), the sizes it used, every size's optimum, the grid and warnings."""
  reference = math.exp(sum(math.log(size.non_embedding_params) for size in optima) / len(optima))
  return dict(
      law=law.to_json(), n_convention="non_embedding", used_sizes=used,
      reference_params=reference, sizes=[size.to_json() for size in optima],
      grid=dict(values=int(rule.search_values), factor=float(rule.search_factor),
                every=int(rule.search_every), extensions=int(rule.search_extensions)),
      warnings=warnings)


def read_law(sweep_dir: pathlib.Path) -> dict[str, Any] | None:
  """`SWEEP/lr_search/learning_rate.json`, or None when the sweep has no finished search."""
  return atomic.read_json(pathlib.Path(sweep_dir) / SEARCH_DIR / LAW_FILE)
