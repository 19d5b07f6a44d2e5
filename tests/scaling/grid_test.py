"""Grid expansion: counts, token rounding, IsoFLOP budgets, per-size hyperparameters, errors."""
import math

import pytest

from configs import schema
from configs.sweeps import base as sweep_base
from configs.sweeps import isoflop_tiny, tiny
from model import ModelConfig, counting, shapes
from scaling import grid


def _sweep(**grid_fields):
  sweep = tiny.get_config()
  sweep.grid.update(**grid_fields)
  return sweep


def test_n_by_d_counts_and_tokens():
  sweep = _sweep(sizes=(10_000, "n100k"), tokens=(20_000, 65_536, 131_072))
  sweep.seeds = (0, 1)
  specs = grid.expand(sweep)
  assert len(specs) == 2 * 3 * 2
  tokens_per_step = sweep.base.train.batch_size * sweep.base.model.seq_len
  assert [spec.tokens for spec in specs[:6:2]] == [round(20_000 / tokens_per_step) * 1024,
                                                   65_536, 131_072]
  assert {spec.seed for spec in specs} == {0, 1}
  named = [spec for spec in specs if spec.shape.label == "n100k"]
  for key, value in shapes.SIZES["n100k"].items():
    assert named[0].overrides[f"model.{key}"] == value


def test_tokens_per_param_uses_the_shape_non_embedding_count():
  sweep = _sweep(sizes=(20_000,), tokens=(), tokens_per_param=(5.0, 20.0))
  specs = grid.expand(sweep)
  tokens_per_step = sweep.base.train.batch_size * sweep.base.model.seq_len
  for spec, ratio in zip(specs, (5.0, 20.0)):
    expected = round(ratio * spec.shape.non_embedding_params / tokens_per_step) * tokens_per_step
    assert spec.tokens == expected
    assert spec.flops_6nd == 6 * spec.shape.non_embedding_params * spec.tokens


def test_shape_counts_match_model_counting():
  spec = grid.expand(_sweep(sizes=(40_000,), tokens=(65_536,)))[0]
  fields = tiny.get_config().base.model.to_dict()
  fields.update({key.split(".")[1]: value for key, value in spec.overrides.items()
                 if key.startswith("model.")})
  config = ModelConfig.from_config_dict(fields)
  assert spec.shape.non_embedding_params == counting.param_counts(config)["non_embedding"]
  assert spec.flops_exact == counting.flops_per_token(config)["exact"] * spec.tokens


def test_isoflop_targets_are_log_spaced_around_the_optimum():
  targets = grid.isoflop_targets(6e12, 5, 4.0, 20.0)
  optimum = math.sqrt(6e12 / (6 * 20.0))
  assert targets[2] == pytest.approx(optimum)
  assert targets[0] == pytest.approx(optimum / 4) and targets[-1] == pytest.approx(optimum * 4)
  ratios = [later / earlier for earlier, later in zip(targets, targets[1:])]
  assert ratios == pytest.approx([2.0] * 4)  # 16x over 4 intervals


@pytest.mark.parametrize("c_convention, n_convention, per_token_of", [
    ("6nd", "non_embedding", lambda shape: 6 * shape.non_embedding_params),
    ("6nd", "total", lambda shape: 6 * shape.total_params),
    ("exact", "non_embedding", lambda shape: shape.flops_per_token["exact"]),
])
def test_isoflop_tokens_are_budget_over_flops_per_token(c_convention, n_convention,
                                                        per_token_of):
  budgets = (5e10, 2e11)
  sweep = _sweep(kind="isoflop", compute_budgets=budgets, sizes_per_budget=3, size_span=2.0,
                 flop_convention=c_convention, n_convention=n_convention,
                 shape_rule={"head_dim": 16, "tolerance": 0.25})
  specs = grid.expand(sweep)
  tokens_per_step = sweep.base.train.batch_size * sweep.base.model.seq_len
  assert {spec.compute_budget for spec in specs} == set(budgets)
  for spec in specs:
    per_token = spec.shape.training_flops_per_token(c_convention, n_convention)
    assert per_token == per_token_of(spec.shape)
    assert spec.tokens == round(spec.compute_budget / per_token / tokens_per_step) * tokens_per_step
    assert abs(spec.tokens * per_token - spec.compute_budget) <= tokens_per_step * per_token / 2
  sizes = [spec.shape.non_embedding_params for spec in specs if spec.compute_budget == 5e10]
  assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)


def test_per_size_learning_rate_and_batch_size_rules():
  sweep = _sweep(sizes=(10_000, 40_000), tokens=(131_072,))
  sweep.hparams.learning_rate.update(rule="power_law", reference_params=1e4,
                                     reference_value=1e-2, exponent=-0.5)
  sweep.hparams.batch_size.update(rule="table", table={"n10p3k": 8, "n41p2k": 32})
  small, large = grid.expand(sweep)
  for spec, batch in ((small, 8), (large, 32)):
    n = spec.shape.non_embedding_params
    assert spec.overrides["optimizer.peak_learning_rate"] == pytest.approx(
        1e-2 * (n / 1e4) ** -0.5)
    assert spec.overrides["train.batch_size"] == batch


def test_schedule_scales_with_tokens():
  spec = grid.expand(_sweep(sizes=(10_000,), tokens=(131_072,)))[0]
  tokens_per_step = 1024
  assert spec.overrides["train.warmup_tokens"] == round(0.1 * 131_072 / 1024) * tokens_per_step
  assert spec.overrides["train.eval_every_tokens"] == 65_536



def test_cadence_rounds_to_whole_steps_and_skips_what_is_off():
  schedule = sweep_base.get_config().schedule
  schedule.evals_per_run, schedule.checkpoints_per_run = 3, 0
  assert grid.cadence(schedule, 10 * 1024, 1024) == {"train.eval_every_tokens": 3 * 1024}
  schedule.evals_per_run, schedule.checkpoints_per_run = 100, 2
  assert grid.cadence(schedule, 10 * 1024, 1024) == {"train.eval_every_tokens": 1024,
                                                      "train.ckpt_every_tokens": 5 * 1024}

def test_apply_overrides_copies():
  base = sweep_base.get_config().base
  config = grid.apply_overrides(base, {"model.d_model": 96, "seed": 3})
  assert (config.model.d_model, config.seed) == (96, 3)
  assert base.model.d_model != 96


def test_run_configs_equal_apply_overrides_and_share_sections():
  base = sweep_base.get_config().base
  configs = grid.RunConfigs(base)
  first_overrides = {"model.d_model": 96, "seed": 3, "train.train_tokens": 4096,
                     "optimizer.peak_learning_rate": 1}
  first = configs.config(first_overrides)
  second = configs.config({"model.d_model": 96, "seed": 4, "train.train_tokens": 8192,
                           "optimizer.peak_learning_rate": 1})
  assert first.to_dict() == grid.apply_overrides(base, first_overrides).to_dict()
  assert isinstance(first.optimizer.peak_learning_rate, float)  # the field's type, as a copy's
  assert (first.seed, second.seed, second.train.train_tokens) == (3, 4, 8192)
  assert first.model is second.model and first.data is second.data
  assert first.train is not second.train
  assert base.model.d_model != 96 and configs.config({}).model.d_model == base.model.d_model
  for config in (first, second, first):
    assert configs.config_hash(config) == schema.config_hash(config)
  assert configs.config_hash(first) != configs.config_hash(second)


def test_run_configs_set_whole_fields_and_refuse_what_apply_overrides_refuses():
  base = sweep_base.get_config().base
  configs = grid.RunConfigs(base)
  whole = {"mesh.data": 2, "mesh": {"data": 4, "fsdp": 1, "tensor": 1}}
  assert configs.config(whole).mesh.data == grid.apply_overrides(base, whole).mesh.data == 4
  assert configs.config({}).mesh.data == base.mesh.data
  for bad, error in (({"nosuch.field": 1}, KeyError), ({"train.batch_size": "big"}, TypeError)):
    with pytest.raises(error):
      grid.apply_overrides(base, bad)
    with pytest.raises(error):
      configs.config(bad)


@pytest.mark.parametrize("fields, message", [
    (dict(sizes=()), "sweep.grid.sizes is empty"),
    (dict(tokens=(), tokens_per_param=()), "give exactly one of sweep.grid.tokens"),
    (dict(sizes=(3_000,)), "sweep.grid.sizes[0]=3000: the shape rule cannot meet it"),
    (dict(sizes=("n7k",)), "'n7k' is not a named size"),
    (dict(tokens=(65_536, 500)), "sweep.grid.tokens[1] gives 500 tokens, below one step"),
    (dict(kind="isoflop", compute_budgets=()), "sweep.grid.compute_budgets is empty"),
    (dict(kind="isoflop", compute_budgets=(1e6,)),
     "compute_budgets[0]=1e+06 is too small for the smallest model"),
    (dict(kind="isoflop", compute_budgets=(1e8,), sizes_per_budget=1,
          optimal_tokens_per_param=0.01),
     "compute_budgets[0]=1e+08 (too small for size n41p2k) gives 404.06 tokens, below one step"),
    (dict(kind="isoflop", compute_budgets=(1e10,), flop_convention="6n"),
     "sweep.grid.flop_convention='6n' is unknown; use one of 6nd, exact"),
    (dict(kind="isoflop", compute_budgets=(1e10,), n_convention="embedding"),
     "sweep.grid.n_convention='embedding' is unknown; use one of non_embedding, total"),
    (dict(kind="grid"), "sweep.grid.kind='grid' is unknown"),
    (dict(shape_rule={"aspect": 3}), "sweep.grid.shape_rule has unknown fields ['aspect']"),
])
def test_bad_sweeps_fail_with_one_clear_message(fields, message):
  with pytest.raises(ValueError) as error:
    grid.expand(_sweep(**fields))
  assert message in str(error.value)
  assert "\n" not in str(error.value)


def test_empty_seeds_and_missing_table_entry():
  sweep = _sweep()
  sweep.seeds = ()
  with pytest.raises(ValueError, match="sweep.seeds is empty"):
    grid.expand(sweep)
  sweep = _sweep()
  sweep.hparams.learning_rate.update(rule="table", table={"n10p3k": 1e-3})
  with pytest.raises(ValueError, match="no entry for size 'n20p6k'"):
    grid.expand(sweep)


def test_isoflop_example_sweep():
  specs = grid.expand(isoflop_tiny.get_config())
  assert len(specs) == 12
  assert sorted({spec.compute_budget for spec in specs}) == [5e10, 1e11, 2e11]
  for spec in specs:
    assert spec.flops_6nd == pytest.approx(spec.compute_budget, rel=0.02)
    n = spec.shape.non_embedding_params
    learning_rate = spec.overrides["optimizer.peak_learning_rate"]
    assert learning_rate == pytest.approx(3e-3 * (n / 5e4) ** -0.25)
