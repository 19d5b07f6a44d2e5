"""The learning-rate fits on the (Mis)Fitting open_lm runs (shared data; skipped when absent)."""
import math

import pytest

from benchmarks import lr_misfitting


@pytest.fixture
def cells(shared_data):
  path = shared_data / lr_misfitting.FILE
  if not path.is_file():
    pytest.skip(f"{path} not found")
  kept, ambiguous = lr_misfitting.load(path)
  assert ambiguous > 0  # the misfitting_17m cells with one loss under two learning rates
  return kept


def _vertex(points):
  """The vertex of the parabola through three (ln lr, loss) points, in closed form."""
  (x1, y1), (x2, y2), (x3, y3) = [(math.log(rate), loss) for rate, loss in points]
  numerator = (x2 - x1) ** 2 * (y2 - y3) - (x2 - x3) ** 2 * (y2 - y1)
  denominator = (x2 - x1) * (y2 - y3) - (x2 - x3) * (y2 - y1)
  return math.exp(x2 - numerator / (2 * denominator))


def test_cell_optima_are_the_three_point_vertices(cells):
  per_cell = lr_misfitting.cell_optima(cells)
  three = [key for key in per_cell if len(cells[key]) == 3]
  assert len(three) > 20
  for key in three:
    assert per_cell[key].learning_rate == pytest.approx(_vertex(cells[key]), rel=1e-9)
    assert min(per_cell[key].learning_rates) < per_cell[key].learning_rate < max(
        per_cell[key].learning_rates)


def test_optimal_learning_rate_falls_with_size(cells):
  sizes, law_n, _, law_nd = lr_misfitting.laws(cells)
  interior = {n: optimum for n, optimum in sizes.items() if not optimum.edge}
  assert len(interior) >= 8
  for optimum in interior.values():
    low, high = optimum.interval
    assert low < optimum.learning_rate < high
  low, high = law_n.n_exponent_interval
  assert low < law_n.n_exponent < high < 0
  assert law_nd.d_exponent_interval is not None and law_nd.n_exponent < 0
