"""Per-size hyperparameter rules: closed forms, rounding, errors."""
import ml_collections
import pytest

from scaling import hparams


def _rule(**fields):
  rule = ml_collections.ConfigDict(dict(rule="base", table={}, reference_params=1e6,
                                        reference_value=0.0, exponent=0.0, multiple_of=8))
  rule.update(**fields)
  return rule


def test_rules():
  assert hparams.value_for_size("lr", _rule(), size_label="a", non_embedding_params=5,
                                base_value=0.3) == 0.3
  assert hparams.value_for_size("lr", _rule(rule="table", table={"a": 0.1}), size_label="a",
                                non_embedding_params=5, base_value=0.3) == 0.1
  power = _rule(rule="power_law", reference_params=1e6, reference_value=3e-3, exponent=-0.25)
  assert hparams.value_for_size("lr", power, size_label="a", non_embedding_params=16e6,
                                base_value=1.0) == pytest.approx(3e-3 / 2)


def test_batch_size_power_law_rounds_to_multiple():
  rule = _rule(rule="power_law", reference_params=1e6, reference_value=21, exponent=0.5)
  assert hparams.batch_size_for_size(rule, size_label="a", non_embedding_params=1e6,
                                     base_value=16) == 24
  assert hparams.batch_size_for_size(rule, size_label="a", non_embedding_params=1e2,
                                     base_value=16) == 8


@pytest.mark.parametrize("fields, message", [
    (dict(rule="linear"), "sweep.hparams.lr.rule='linear' is unknown"),
    (dict(rule="power_law"), "power_law needs reference_value > 0"),
    (dict(rule="table"), "sweep.hparams.lr.table is empty"),
])
def test_bad_rules(fields, message):
  with pytest.raises(ValueError, match=message):
    hparams.check_rule("lr", _rule(**fields))


def test_fractional_batch_size_is_an_error():
  with pytest.raises(ValueError, match="batch sizes must be positive integers"):
    hparams.batch_size_for_size(_rule(rule="table", table={"a": 2.5}), size_label="a",
                                non_embedding_params=1, base_value=16)
