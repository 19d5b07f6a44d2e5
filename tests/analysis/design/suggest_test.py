"""Next runs: the target in closed form, the rank-one update, the snippet; acceptance."""
import json

from absl import flags
from absl.testing import flagsaver
import numpy as np
import pytest

from analysis import __main__ as cli
from analysis.fitting import bootstrap
from analysis.fitting import fit
from analysis.laws import catalogue
from analysis.design import suggest


TRUE = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
CHINCHILLA = catalogue.CHINCHILLA


def _grid():
  n = np.repeat(np.geomspace(2e7, 4e8, 4), 4)
  return n, n * np.tile(np.geomspace(4, 128, 4), 4)


def _noisy(rng, n, d, noise=0.01):
  return CHINCHILLA.predict(TRUE, n=n, d=d) * np.exp(noise * rng.normal(size=np.size(n)))


def test_suggested_sds_equal_the_refitted_information():
  n, d = _grid()
  loss = CHINCHILLA.predict(TRUE, n=n, d=d)
  noise = 0.01
  result = suggest.suggest(CHINCHILLA, TRUE, n, d, loss, target_flops=1e23,
                           budget_flops=1e20, noise_log_sd=noise, max_runs=4)
  # The target is the compute-optimal point: Hoffmann et al. 2022, Eq. 4 under C = 6ND.
  alpha, beta = TRUE["alpha"], TRUE["beta"]
  scale = (alpha * TRUE["A"] / (beta * TRUE["B"])) ** (1 / (alpha + beta))
  assert result.n_opt == pytest.approx(scale * (1e23 / 6) ** (beta / (alpha + beta)), rel=1e-10)
  assert 6 * result.n_opt * result.d_opt == pytest.approx(1e23, rel=1e-12)
  raw = CHINCHILLA.to_raw(TRUE)
  gradient = CHINCHILLA.log_jacobian(raw, dict(n=[result.n_opt], d=[result.d_opt]))[0]
  all_n = np.r_[n, [r["n"] for r in result.runs]]
  all_d = np.r_[d, [r["d"] for r in result.runs]]
  for count in (0, len(result.runs)):
    rows = CHINCHILLA.log_jacobian(raw, dict(n=all_n[:n.size + count], d=all_d[:n.size + count]))
    variance = noise**2 * gradient @ np.linalg.pinv(rows.T @ rows) @ gradient
    expected = result.sd_before if count == 0 else result.sd_after
    assert np.sqrt(variance) == pytest.approx(expected, rel=1e-6)
  assert 1 <= len(result.runs) <= 4 and result.spent_flops <= 1e20
  assert result.sd_after < result.sd_before
  sds = [result.sd_before] + [r["sd_after"] for r in result.runs]
  assert all(later < earlier for earlier, later in zip(sds, sds[1:]))
  first = result.runs[0]
  assert first["flops"] == pytest.approx(6 * first["n"] * first["d"])
  assert first["predicted_loss"] == pytest.approx(
      CHINCHILLA.predict(TRUE, n=np.array([first["n"]]), d=np.array([first["d"]]))[0])
  table = result.table()
  assert "compute-optimal N=" in table and table.count("\n") == 3 + len(result.runs)


def test_candidate_grid_respects_the_budget():
  candidates = suggest.candidate_grid(np.array([1e7, 1e8]), 1e19)
  cost = 6 * candidates[:, 0] * candidates[:, 1]
  assert np.all(cost <= 1e19) and candidates[:, 0].min() == pytest.approx(1e7)
  ratios = candidates[:, 1] / candidates[:, 0]
  assert ratios.min() == pytest.approx(1.0) and ratios.max() == pytest.approx(1024.0)
  with pytest.raises(ValueError, match="too small"):
    suggest.candidate_grid(np.array([1e9]), 1e12)


def test_errors():
  n, d = _grid()
  loss = CHINCHILLA.predict(TRUE, n=n, d=d)
  with pytest.raises(ValueError, match="budget_flops"):
    suggest.suggest(CHINCHILLA, TRUE, n, d, loss, target_flops=1e23, budget_flops=0.0)
  with pytest.raises(ValueError, match="target_flops"):
    suggest.suggest(CHINCHILLA, TRUE, n, d, loss, target_flops=1.0, budget_flops=1e20)
  with pytest.raises(ValueError, match="max_runs"):
    suggest.suggest(CHINCHILLA, TRUE, n, d, loss, target_flops=1e23, budget_flops=1e20,
                    max_runs=0)
  with pytest.raises(ValueError, match="degenerate"):
    suggest.suggest(CHINCHILLA, dict(TRUE, E=0.0), n, d, loss, target_flops=1e23,
                    budget_flops=1e20)
  with pytest.raises(ValueError, match="equal lengths"):
    suggest.suggest(CHINCHILLA, TRUE, n, d, loss[:-1], target_flops=1e23, budget_flops=1e20)
  with pytest.raises(ValueError, match="base_sweep"):
    suggest.sweep_snippet(((1, 2),), "configs/sweeps/no such.py")
  with pytest.raises(ValueError, match="no points"):
    suggest.sweep_snippet((), "configs/sweeps/tiny.py")


def test_sweep_snippet_names_the_base_and_points():
  source = suggest.sweep_snippet(((20_000, 65_536),), "configs/sweeps/tiny.py", note="x")
  assert "from configs.sweeps import tiny as base_sweep" in source
  assert "(20000, 65536)," in source and 'kind="points"' in source
  compile(source, "suggested_sweep.py", "exec")


def _interval_width(n, d, loss, at, init, seed):
  """Width of the 16-84% bootstrap interval of the log loss at `at` = (N, D)."""
  result = bootstrap.bootstrap(CHINCHILLA, dict(n=n, d=d), loss, n_resamples=100,
                               init_grid=init, seed=seed)
  values = CHINCHILLA.log_predict_raw(result.raw, dict(n=np.array([at[0]]),
                                                      d=np.array([at[1]])))[:, 0]
  low, high = np.quantile(values, [0.16, 0.84])
  return high - low


@pytest.mark.slow
def test_suggested_runs_shrink_the_interval_more_than_random_runs():
  target_flops, ratios = 1e23, []
  for seed in range(6):
    rng = np.random.default_rng(seed)
    n, d = _grid()
    loss = _noisy(rng, n, d)
    fitted = fit.fit(CHINCHILLA, dict(n=n, d=d), loss)
    best = CHINCHILLA.to_raw(fitted.params)
    init = best + rng.normal(scale=0.2, size=(32, best.size))
    init[0] = best
    budget = float(np.sum(6 * n * d))
    pool = suggest.candidate_grid(n, budget)
    chosen = suggest.suggest(CHINCHILLA, fitted.params, n, d, loss, target_flops=target_flops,
                             budget_flops=budget, candidates=pool)
    remaining, random_runs = budget, []
    for index in rng.permutation(len(pool)):
      cost = 6 * pool[index, 0] * pool[index, 1]
      if cost <= remaining:
        random_runs.append(pool[index])
        remaining -= cost
    random_runs = np.array(random_runs)
    picked = np.array(chosen.points, np.float64)
    assert np.sum(6 * picked[:, 0] * picked[:, 1]) <= budget * (1 + 1e-9)
    at = (chosen.n_opt, chosen.d_opt)
    widths = []
    for extra, draw_seed in ((picked, seed + 100), (random_runs, seed + 200)):
      extra_loss = _noisy(np.random.default_rng(draw_seed), extra[:, 0], extra[:, 1])
      widths.append(_interval_width(np.r_[n, extra[:, 0]], np.r_[d, extra[:, 1]],
                                    np.r_[loss, extra_loss], at, init, seed))
    ratios.append(widths[0] / widths[1])
  ratios = np.array(ratios)
  message = f"suggested / random interval width per seed: {np.round(ratios, 3)}"
  assert np.mean(ratios) < 1.0, message
  assert np.sum(ratios < 1.0) > len(ratios) / 2, message


def test_cli_prints_the_table_and_writes_a_sweep(tmp_path, capsys):
  rng = np.random.default_rng(3)
  n, d = _grid()
  loss = _noisy(rng, n, d)
  lines = ["run_id,seed,n_params_total,n_params_non_embedding,tokens,flops_exact,"
           "final_eval_loss,status"]
  for index, (params, tokens, value) in enumerate(zip(n, d, loss)):
    for seed, jitter in ((0, 1.0), (1, np.exp(0.01 * rng.normal()))):
      lines.append(f"r{index}s{seed},{seed},{params * 1.2},{params},{tokens},"
                   f"{7 * params * tokens},{value * jitter},completed")
  (tmp_path / "results.csv").write_text("\n".join(lines) + "\n")
  out = tmp_path / "out"
  argv = ["analysis", "suggest", f"--results={tmp_path / 'results.csv'}",
          "--target_flops=1e23", "--budget_flops=1e20", f"--out={out}", "--max_runs=5",
          "--weights=inverse_seed_variance"]
  with flagsaver.flagsaver():
    flags.FLAGS.unparse_flags()
    cli.main(flags.FLAGS(argv))
  printed = capsys.readouterr().out
  assert "compute-optimal N=" in printed and "sd before" in printed
  source = (out / "suggested_sweep.py").read_text()
  assert 'kind="points"' in source and "from configs.sweeps import tiny" in source
  summary = json.loads((out / "suggestion.json").read_text())
  assert 1 <= len(summary["runs"]) <= 5 and summary["budget_flops"] == 1e20
  assert 0.003 < summary["noise_log_sd"] < 0.03  # the pooled seed sd, ~0.01
  with flagsaver.flagsaver():
    flags.FLAGS.unparse_flags()
    with pytest.raises(ValueError, match="--target_flops"):
      cli.main(flags.FLAGS(["analysis", "suggest", f"--results={tmp_path / 'results.csv'}"]))


def test_buildable_candidates_use_sizes_of_the_shape_rule():
  from analysis.design import suggest_cli  # pylint: disable=import-outside-toplevel
  from configs.sweeps import tiny  # pylint: disable=import-outside-toplevel
  from model import shapes  # pylint: disable=import-outside-toplevel
  from scaling import grid  # pylint: disable=import-outside-toplevel
  candidates = suggest.candidate_grid(np.array([1e4, 4e4]), 3e12)
  built, targets = suggest_cli.buildable_candidates(candidates, "configs/sweeps/tiny.py")
  rule = grid.shape_rule(tiny.get_config())
  assert set(targets) == set(built[:, 0].astype(int))
  for size, target in targets.items():
    assert shapes.non_embedding_params(shapes.shape_for_params(target, rule)) == size
    assert target in candidates[:, 0].astype(int)
  assert set(built[:, 1]) <= set(candidates[:, 1]) and len(built) <= len(candidates)
  with pytest.raises(ValueError, match="base_sweep"):
    suggest_cli.buildable_candidates(candidates, "configs/sweeps/no such.py")
  with pytest.raises(ValueError, match="cannot import"):
    suggest_cli.buildable_candidates(candidates, "configs/sweeps/absent.py")
