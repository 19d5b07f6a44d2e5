"""Tests for analysis.trust.known_floor: the misses and coverage against hand-computed values,
one floor per set of runs, and bad input."""
import math

import pytest

from analysis.trust import known_floor


def test_misses_and_coverage_by_hand():
  low_fit = known_floor.check(0.80, 0.76, (0.70, 0.83), 0.95)
  assert low_fit.miss == pytest.approx(-0.04)
  assert low_fit.relative_miss == pytest.approx(-0.05)
  assert low_fit.covered
  assert low_fit.line() == ("E = 0.76 nats/token, 95% interval [0.7, 0.83]; the true floor is "
                            "0.8: E misses it by -0.04 (-5.0%), and the interval covers it")
  narrow = known_floor.check(0.80, 0.55, (0.0, 0.79), 0.95)
  assert not narrow.covered and "does NOT cover" in narrow.line()
  assert narrow.to_json() == dict(floor=0.80, E=0.55, ci=[0.0, 0.79], level=0.95,
                                  miss=pytest.approx(-0.25), relative_miss=pytest.approx(-0.3125),
                                  covered=False)


def test_one_floor_per_set_of_runs():
  assert known_floor.common_floor([math.nan, 0.8, 0.8]) == 0.8
  assert known_floor.common_floor([math.nan, math.nan]) is None
  assert known_floor.common_floor([]) is None
  with pytest.raises(ValueError, match="different loss floors .0.8 to 0.81 nats/token"):
    known_floor.common_floor([0.8, 0.81])


def test_a_floor_must_be_a_positive_loss():
  with pytest.raises(ValueError, match="loss floor 0 must be a positive loss"):
    known_floor.check(0, 1.0, (0.5, 1.5), 0.95)
