"""configs/sweeps/stdlib.py: the real-text IsoFLOP sweep's design (expansion, validation,
IsoFLOP rule, held-out budget)."""
import collections
import pathlib

import numpy as np
import pytest

from analysis.approaches import isoflop
from analysis.trust import extrapolate
from configs.sweeps import stdlib as stdlib_config
from scaling import runs
from training import validate


@pytest.fixture(scope="module")
def planned() -> list[runs.PlannedRun]:
  return runs.plan(stdlib_config.get_config(), pathlib.Path("/nonexistent/stdlib"))


def _by_budget(planned) -> dict[float, list[runs.PlannedRun]]:
  groups = collections.defaultdict(list)
  for run in planned:
    groups[run.spec.compute_budget].append(run)
  return dict(sorted(groups.items()))


def test_every_run_is_a_valid_byte_level_stdlib_run(planned):
  assert len(planned) == 12
  assert len({run.run_id for run in planned}) == 12
  for run in planned:
    validate.validate_config(run.config, 1, 1)
    assert (run.config.data.corpus, run.config.data.tokenizer) == ("stdlib", "byte")
    assert run.config.train.train_tokens % (run.config.train.batch_size
                                            * run.config.model.seq_len) == 0


def test_at_least_three_isoflop_budgets_of_distinct_sizes_on_their_budget(planned):
  groups = _by_budget(planned)
  assert len(groups) >= 3
  for budget, members in groups.items():
    sizes = [run.spec.shape.non_embedding_params for run in members]
    assert len(set(sizes)) >= 4
    flops = np.array([run.spec.flops_6nd for run in members])
    np.testing.assert_allclose(flops, budget, rtol=0.02)


def test_each_budget_spans_the_tokens_per_parameter_of_the_measured_optimum(planned):
  """The probes' best runs sat at 230-930 tokens per parameter; every budget brackets them."""
  for members in _by_budget(planned).values():
    ratios = [run.spec.tokens / run.spec.shape.non_embedding_params for run in members]
    assert min(ratios) < 30 and max(ratios) > 1000


def test_the_analysis_finds_the_budgets_and_holds_out_the_largest(planned):
  flops = np.array([run.spec.flops_6nd for run in planned])
  labels, budgets = isoflop.group_budgets(flops)
  np.testing.assert_allclose(budgets, stdlib_config.COMPUTE_BUDGETS, rtol=0.02)
  assert np.bincount(labels).tolist() == [4, 4, 4]
  threshold = extrapolate.default_threshold(flops)
  held_out = [run for run in planned if run.spec.flops_6nd >= threshold]
  assert {run.spec.compute_budget for run in held_out} == {max(stdlib_config.COMPUTE_BUDGETS)}
  assert len(held_out) == 4


def test_learning_rate_falls_with_size(planned):
  ordered = sorted(planned, key=lambda run: run.spec.shape.non_embedding_params)
  rates = [run.config.optimizer.peak_learning_rate for run in ordered]
  assert rates == sorted(rates, reverse=True)
  assert rates[0] > 2 * rates[-1]


def test_variants():
  assert stdlib_config.get_config("budgets=1").grid.compute_budgets == (5e10,)
  assert stdlib_config.get_config("scale=0.5").grid.compute_budgets == (2.5e10, 7.5e10, 2.25e11)
  with pytest.raises(ValueError, match="unknown"):
    stdlib_config.get_config("size=3")
