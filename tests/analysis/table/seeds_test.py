"""Seed aggregation against numpy on a hand-made table; weight closed forms; errors."""
import numpy as np
import pytest

from analysis.table import observations

from analysis.table import seeds


def _table() -> observations.Observations:
  # Group (1e6, 1e8): 3 seeds; (2e6, 1e8): 2 seeds; (1e6, 4e8): 1 seed.
  return observations.Observations.from_columns(
      run_id=["a0", "b0", "a1", "c0", "b1", "a2"],
      n_total=[1e6, 2e6, 1e6, 1e6, 2e6, 1e6],
      d=[1e8, 1e8, 1e8, 4e8, 1e8, 1e8],
      loss=[3.0, 2.8, 3.1, 2.5, 2.9, 3.3],
      seed=[0, 0, 1, 7, 1, 2])


def test_aggregate_matches_numpy():
  groups = seeds.aggregate(_table())
  table = groups.observations
  assert list(table.run_id) == ["a0+a1+a2", "b0+b1", "c0"]
  assert list(groups.n_seeds) == [3, 2, 1]
  assert list(table.seed) == [-1, -1, 7]
  np.testing.assert_allclose(table.loss, [np.mean([3.0, 3.1, 3.3]), 2.85, 2.5])
  np.testing.assert_allclose(table.n_total, [1e6, 2e6, 1e6])
  np.testing.assert_allclose(table.d, [1e8, 1e8, 4e8])
  np.testing.assert_allclose(groups.loss_std[:2], [np.std([3.0, 3.1, 3.3], ddof=1),
                                                   np.std([2.8, 2.9], ddof=1)])
  log_a, log_b = np.log([3.0, 3.1, 3.3]), np.log([2.8, 2.9])
  np.testing.assert_allclose(groups.log_loss_std[:2], [np.std(log_a, ddof=1),
                                                       np.std(log_b, ddof=1)])
  assert np.isnan(groups.loss_std[2]) and np.isnan(groups.log_loss_std[2])
  residuals = np.concatenate([log_a - log_a.mean(), log_b - log_b.mean()])
  assert groups.pooled_log_sd == pytest.approx(np.sqrt(np.sum(residuals**2) / (2 + 1)))
  assert [list(m) for m in groups.members] == [[0, 2, 5], [1, 4], [3]]


def test_single_seed_table_has_no_pooled_sd():
  groups = seeds.aggregate(_table().select(np.array([0, 1, 3])))
  assert list(groups.n_seeds) == [1, 1, 1]
  assert groups.pooled_log_sd is None
  with pytest.raises(ValueError, match="at least one group with >= 2 seeds"):
    seeds.observation_weights("inverse_seed_variance", groups=groups)


def test_duplicate_seed_is_refused_and_clean_resolves_it():
  table = observations.Observations.from_columns(
      run_id=["x", "y", "z"], n_total=[1e6, 1e6, 1e6], d=[1e8, 1e8, 1e8],
      loss=[3.0, 3.0, 3.1], seed=[0, 0, 1])
  with pytest.raises(ValueError, match="clean"):
    seeds.aggregate(table)
  cleaned, _ = table.clean()
  groups = seeds.aggregate(cleaned)
  assert list(groups.observations.run_id) == ["x+z"]
  assert groups.observations.loss[0] == pytest.approx(3.05)
  clash = observations.Observations.from_columns(
      run_id=["x", "y"], n_total=[1e6, 1e6], d=[1e8, 1e8], loss=[3.0, 3.2], seed=[0, 0])
  with pytest.raises(ValueError, match="runs x and y have the same N, D and seed"):
    clash.clean()


def test_weights_closed_forms():
  groups = seeds.aggregate(_table())
  flops = groups.observations.flops_6nd
  np.testing.assert_array_equal(seeds.observation_weights("uniform", groups=groups), np.ones(3))
  np.testing.assert_allclose(seeds.observation_weights("compute", flops=flops),
                             flops / flops.mean())
  weights = seeds.observation_weights("inverse_seed_variance", groups=groups)
  sd = np.array([groups.log_loss_std[0], groups.log_loss_std[1], groups.pooled_log_sd])
  expected = np.array([3, 2, 1]) / sd**2
  np.testing.assert_allclose(weights, expected / expected.mean())
  assert weights.mean() == pytest.approx(1.0)


def test_weight_errors():
  with pytest.raises(ValueError, match="unknown"):
    seeds.observation_weights("flops")
  with pytest.raises(ValueError, match="flops="):
    seeds.observation_weights("compute")
  with pytest.raises(ValueError, match="finite and > 0"):
    seeds.observation_weights("compute", flops=[1e18, -1.0])
  with pytest.raises(ValueError, match="groups="):
    seeds.observation_weights("inverse_seed_variance", flops=[1.0])
  table = observations.Observations.from_columns(
      n_total=[1e6, 1e6], d=[1e8, 1e8], loss=[3.0, 3.0], seed=[0, 1])
  with pytest.raises(ValueError, match="zero seed variance"):
    seeds.observation_weights("inverse_seed_variance", groups=seeds.aggregate(table))
