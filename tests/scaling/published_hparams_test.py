"""The published hyperparameter laws against their formulas at a point, and the range warning."""
import io

import pytest

from configs.sweeps import tiny
from scaling import estimate, grid, hparams, launch, published_hparams

# A 1B-class point: 1e9 non-embedding, 1.2e9 total parameters, 1e11 tokens, 24 x 2048, seq 2048.
POINT = published_hparams.Point(non_embedding_params=10**9, total_params=12 * 10**8,
                                tokens=1e11, n_layers=24, d_model=2048, seq_len=2048)


def test_steplaw():
  assert published_hparams.value("steplaw", "learning_rate", POINT) == pytest.approx(
      1.79 * 1e9 ** -0.713 * 1e11 ** 0.307)
  assert published_hparams.value("steplaw", "batch_size", POINT) == pytest.approx(
      0.58 * 1e11 ** 0.571)


def test_deepseek_uses_non_embedding_flops_with_attention():
  m = 72 * 24 * 2048 ** 2 + 12 * 24 * 2048 * 2048  # DeepSeek LLM's M for d_ff = 4 d_model
  point = published_hparams.Point(non_embedding_params=12 * 24 * 2048 ** 2, total_params=1,
                                  tokens=1e11, n_layers=24, d_model=2048, seq_len=2048)
  assert point.deepseek_flops == pytest.approx(m * 1e11)
  assert published_hparams.value("deepseek", "learning_rate", point) == pytest.approx(
      0.3118 * (m * 1e11) ** -0.1250)
  assert published_hparams.value("deepseek", "batch_size", point) == pytest.approx(
      0.2920 * (m * 1e11) ** 0.3271)


def test_olmo_matches_its_ladder_at_190m():
  # The OLMo-2 190M ladder run (shared/data/olmo_ladder/peteish-moreeval/190M-1xC.csv): peak
  # LR 9.7273e-4 and 524288 tokens per batch (233 sequences of 2048 rounded up to 256).
  point = published_hparams.Point(non_embedding_params=1, total_params=190 * 10**6,
                                  tokens=1.0, n_layers=1, d_model=1, seq_len=2048)
  assert published_hparams.value("olmo", "learning_rate", point) == pytest.approx(
      9.7273e-4, rel=1e-3)  # the ladder counts the model exactly, not 190M
  assert published_hparams.value("olmo", "batch_size", point) / 2048 == pytest.approx(
      160 * (190 / 108) ** (2 / 3))


def test_rules_turn_batch_tokens_into_sequences():
  rule = tiny.get_config().hparams.batch_size
  rule.update(rule="steplaw", multiple_of=8)
  sequences = hparams.batch_size_for_size(rule, size_label="a", non_embedding_params=10**9,
                                          base_value=16, point=POINT)
  assert sequences == 8 * round(0.58 * 1e11 ** 0.571 / 2048 / 8)


def test_a_rule_outside_its_fitted_range_warns_with_the_range(tmp_path):
  sweep = tiny.get_config("quick")
  sweep.hparams.learning_rate.rule = "steplaw"
  specs = grid.expand(sweep)
  assert specs[0].overrides["optimizer.peak_learning_rate"] == pytest.approx(
      1.79 * specs[0].shape.non_embedding_params ** -0.713 * specs[0].tokens ** 0.307)
  output = io.StringIO()
  launch.dry_run(sweep, tmp_path, max_parallel=2, stream=output,
                 throughput=estimate.Throughput(1e9, 10.0, "given"))
  warnings = [line for line in output.getvalue().splitlines() if line.startswith("warning:")]
  assert len(warnings) == 1
  assert "rule='steplaw' is extrapolated for 6 of 6 runs" in warnings[0]
  assert "outside the 6e+07-1e+09 it was fitted on (Li et al. 2025" in warnings[0]


def test_inside_the_range_no_warning():
  assert published_hparams.range_warning("learning_rate", "steplaw", [POINT]) is None
  assert not published_hparams.outside_range("olmo", POINT)
