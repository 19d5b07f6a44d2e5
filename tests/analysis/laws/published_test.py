"""Tests for the published-law table."""
import numpy as np
import pytest

from analysis.laws import published


def test_every_law_is_cited_and_consistent():
  for key, law in published.LAWS.items():
    assert law.key == key
    assert "arXiv:" in law.citation and law.source
    assert law.n_convention in ("total", "non_embedding")
    assert law.a + law.b == pytest.approx(1.0, abs=1e-9)
    form = law.law_form()
    assert (form is None) == (law.form in published.ALLOCATION_KINDS)
    if form is not None:
      assert set(law.params) == set(form.param_names), key
    if law.form == "chinchilla":
      assert law.a == pytest.approx(law.params["beta"] / (law.params["alpha"]
                                                           + law.params["beta"]))


def test_unrounded_hoffmann_rounds_to_printed_values():
  unrounded = published.LAWS["hoffmann2022_approach3_unrounded"].params
  rounded = published.LAWS["hoffmann2022_approach3_rounded"].params
  assert unrounded["A"] == pytest.approx(rounded["A"], abs=0.05)
  assert unrounded["B"] == pytest.approx(rounded["B"], abs=0.05)
  assert unrounded["E"] == pytest.approx(rounded["E"], abs=0.005)
  assert unrounded["alpha"] == pytest.approx(rounded["alpha"], abs=0.005)
  assert unrounded["beta"] == pytest.approx(rounded["beta"], abs=0.005)


def test_losses_follow_each_form():
  chinchilla = published.LAWS["hoffmann2022_approach3_rounded"]
  assert chinchilla.loss(n=7e10, d=1.4e12) == pytest.approx(
      1.69 + 406.4 / 7e10 ** 0.34 + 410.7 / 1.4e12 ** 0.28)
  kaplan_n = published.LAWS["kaplan2020_n"]
  assert kaplan_n.loss(n=8.8e13) == pytest.approx(1.0)
  kaplan_nd = published.LAWS["kaplan2020_nd"]
  # With unlimited data Eq. 1.5 reduces to a pure power law in N.
  assert kaplan_nd.loss(n=1e9, d=np.inf) == pytest.approx((6.4e13 / 1e9) ** 0.076)
  with pytest.raises(ValueError, match="exponents only"):
    published.LAWS["hoffmann2022_approach1"].loss(n=1.0, d=1.0)
