"""Tests for the rollout figures (built from a hand-made result, no fitting)."""
import matplotlib.image
import pytest

from analysis.trust import rollout
from analysis.report import rollout_plots
def _result():
  rows = []
  for label, error in (("chinchilla/huber", 0.01), ("overtraining/huber", -0.03)):
    for threshold, distance in ((1e9, 0.3), (1e9, 1.2), (5e9, 0.8)):
      actual = 3.0
      predicted = actual * (1 + error)
      rows.append(dict(label=label, threshold=threshold, distance=distance, actual=actual,
                       predicted=predicted, relative_error=error, low=predicted - 0.05,
                       high=predicted + 0.05, covered=abs(predicted - actual) <= 0.05))
  return rollout.RolloutResult(rows=rows, fits=[], split_by="n", thresholds=[1e9, 5e9],
                               level=0.9)


@pytest.mark.parametrize("plot", [rollout_plots.error_vs_distance, rollout_plots.final_split])
def test_figures_are_written(plot, tmp_path):
  path = plot(_result(), tmp_path / "figure.png")
  image = matplotlib.image.imread(path)
  assert image.shape[0] > 300 and image.shape[1] > 300
  assert image[..., :3].std() > 0.01
