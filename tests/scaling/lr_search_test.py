"""The learning-rate search end to end on the tiny sweep, against a trainer with a known optimum.

The trainer is the launcher tests' fake (tests/scaling/conftest.py) with its final loss replaced
by 3 + 0.1 (ln lr - ln lr*(N))^2, lr*(N) = 0.05 (N / 1e4)^-0.5, N the run's non-embedding
parameters from the run table: the search must find lr*(N) at every size and the sweep's runs
must train with it.
"""
import io
import math
import textwrap

import pytest

from configs.sweeps import tiny
from records import atomic, layout
from scaling import estimate, launch, lr_fit, lr_search, published_hparams, runs

_KNOWN_OPTIMUM = textwrap.dedent('''
    import json, math, os, pathlib, runpy, sys
    arguments = dict(argument.split("=", 1) for argument in sys.argv[1:])
    workdir = pathlib.Path(arguments["--workdir"])
    try:
      runpy.run_path(FAKE, run_name="__main__")
      code = 0
    except SystemExit as stop:
      code = stop.code
    result = json.loads((workdir / "result.json").read_text())
    table = json.loads((workdir.parent.parent / "sweep.json").read_text())
    n = next(row["n_params_non_embedding"] for row in table["runs"]
             if row["run_id"] == workdir.name)
    lr = result["config"]["optimizer"]["peak_learning_rate"]
    result["final_eval_loss"] = 3 + 0.1 * (math.log(lr) - math.log(0.05 * (n / 1e4) ** -0.5)) ** 2
    (workdir / ".result.tmp").write_text(json.dumps(result))
    os.replace(workdir / ".result.tmp", workdir / "result.json")
    sys.exit(code)
''')


def _search_sweep(**fields):
  sweep = tiny.get_config("quick")
  sweep.launch.update(heartbeat_seconds=0.2)
  sweep.hparams.learning_rate.update({
      "rule": "search", "reference_params": 1e4, "reference_value": 0.05, "exponent": 0.0,
      "search_values": 3, **fields})
  return sweep


@pytest.fixture
def known_optimum_trainer(tmp_path, fake_trainer):
  path = tmp_path / "known_optimum_train.py"
  path.write_text(f"FAKE = {str(fake_trainer)!r}\n" + _KNOWN_OPTIMUM)
  return path


@pytest.mark.slow
def test_search_finds_the_known_optimum_and_trains_the_sweep_with_it(tmp_path,
                                                                     known_optimum_trainer):
  sweep_dir = tmp_path / "sweep"
  output = io.StringIO()
  outcome = launch.launch(_search_sweep(), sweep_dir, trainer=known_optimum_trainer,
                          stream=output)
  assert outcome.exit_code == 0, output.getvalue()
  found = lr_search.read_law(sweep_dir)
  assert found["law"]["coefficient"] * 1e4 ** found["law"]["n_exponent"] == pytest.approx(0.05)
  assert found["law"]["n_exponent"] == pytest.approx(-0.5)
  sizes = {size["size"]: size for size in found["sizes"]}
  assert len(sizes) == 3
  for size in sizes.values():
    assert size["learning_rate"] == pytest.approx(
        0.05 * (size["n_params_non_embedding"] / 1e4) ** -0.5)
    assert not size["at_edge"]
  # Grid 0.025, 0.05, 0.1: the optimum of 10.3k (0.049) is inside and its lowest loss too; 20.6k
  # (0.035) has its lowest loss at 0.025, and 41.2k (0.0246) its optimum below it: both grids
  # grew by one learning rate below.
  assert {size["size"]: size["extensions"] for size in sizes.values()} == {
      "n10p3k": 0, "n20p6k": 1, "n41p2k": 1}
  assert min(sizes["n41p2k"]["learning_rates"]) == pytest.approx(0.0125)
  probes = atomic.read_json(sweep_dir / lr_search.SEARCH_DIR / layout.SWEEP_FILE)["runs"]
  assert len(probes) == 3 * 3 + 2
  table = atomic.read_json(sweep_dir / layout.SWEEP_FILE)["runs"]
  assert len(table) == 6
  for row in table:
    assert row["peak_learning_rate"] == pytest.approx(
        0.05 * (row["n_params_non_embedding"] / 1e4) ** -0.5)
  assert "learning-rate search: LR*(N) = " in output.getvalue()
  # A relaunch trains nothing new and plans the same runs.
  again = io.StringIO()
  assert launch.launch(_search_sweep(), sweep_dir, trainer=known_optimum_trainer,
                       stream=again).exit_code == 0
  assert "6 runs, 6 already finished, 0 to run" in again.getvalue()


def test_dry_run_lists_the_probes_first(tmp_path):
  output = io.StringIO()
  launch.dry_run(_search_sweep(search_values=5), tmp_path, max_parallel=2, stream=output,
                 throughput=estimate.Throughput(1e9, 10.0, "given"))
  assert "learning-rate search: 15 probe runs" in output.getvalue()
  assert not (tmp_path / lr_search.SEARCH_DIR).exists()


@pytest.mark.parametrize("fields, message", [
    (dict(search_values=2), "search_values=2: a log-quadratic needs at least 3"),
    (dict(search_factor=1.0), "search_factor=1.0 must be > 1"),
    (dict(search_every=0), "search_every=0 must be >= 1"),
])
def test_bad_search_grids_are_refused_before_any_run(tmp_path, fields, message):
  with pytest.raises(ValueError, match=message):
    launch.launch(_search_sweep(**fields), tmp_path)
  assert not any(tmp_path.iterdir())


def test_search_is_for_the_learning_rate_and_sized_grids():
  sweep = tiny.get_config("quick")
  sweep.hparams.batch_size.rule = "search"
  with pytest.raises(ValueError, match="batch_size.rule='search' is for the learning rate"):
    runs.plan(sweep, "/nonexistent")
  points = _search_sweep()
  points.grid.update(kind="points", sizes=(), tokens=(), points=((10_000, 16_384),))
  with pytest.raises(ValueError, match="needs an n_by_d, ladder or isoflop grid"):
    lr_search.check(points)


def test_probe_grid_is_centred_and_every_kth_size():
  sweep = _search_sweep(search_values=5, search_every=2)
  probes = lr_search.probe_specs(sweep, {
      spec.shape.label: lr_search.initial_offsets(sweep.hparams.learning_rate)
      for spec in lr_search.searched_specs(sweep)})
  sizes = sorted({spec.shape.non_embedding_params for spec in probes})
  assert len(sizes) == 2  # sizes 1 and 3 of 3
  assert {spec.tokens for spec in probes} == {16_384}  # the cheapest budget
  rates = sorted(spec.overrides["optimizer.peak_learning_rate"] for spec in probes
                 if spec.shape.non_embedding_params == sizes[0])
  assert rates == pytest.approx([0.0125, 0.025, 0.05, 0.1, 0.2])
  assert math.prod(rates) == pytest.approx(0.05 ** 5)


def test_ladder_probes_are_trunks_with_branches(tmp_path):
  sweep = _search_sweep()
  sweep.grid.update(kind="ladder", sizes=(10_000, 20_000), tokens=(),
                    tokens_per_param=(2.0, 4.0))
  probes = lr_search.plan_probes(sweep, tmp_path)
  trunks = [run for run in probes if run.spec.is_trunk]
  branches = [run for run in probes if run.trunk_id]
  assert len(trunks) == len(branches) == 2 * 3
  assert {run.config.optimizer.schedule for run in branches} == {"wsd"}
  assert {run.run_dir.parent for run in probes} == {tmp_path / lr_search.SEARCH_DIR / "runs"}


@pytest.mark.parametrize("diverged_above, grown", [(False, (-1.0, 0.0, 1.0, 2.0)),
                                                   (True, (-1.0, 0.0, 1.0))])
def test_a_high_edge_grows_upward_unless_higher_rates_diverged(diverged_above, grown):
  optimum = lr_fit.fit_optimum([0.01, 0.02, 0.04], [3.3, 3.2, 3.1])
  assert optimum.edge == lr_fit.HIGH
  point = published_hparams.Point(non_embedding_params=1, total_params=1, tokens=1.0,
                                  n_layers=1, d_model=1, seq_len=1)
  size = lr_search.SizeOptimum(size="a", non_embedding_params=1, tokens=1, optimum=optimum,
                               extensions=0, point=point, diverged_above=diverged_above)
  offsets, extensions = {"a": (-1.0, 0.0, 1.0)}, {}
  assert lr_search.extend(offsets, [size], extensions, limit=2) == (not diverged_above)
  assert offsets["a"] == grown
  assert lr_search.extend(offsets, [size], {"a": 2}, limit=2) is False  # no extensions left
