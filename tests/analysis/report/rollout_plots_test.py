"""Tests for the rollout figures (built from a hand-made result, no fitting): the errors, the
coverage markers and the interval bars they draw, read back from their Axes."""
import numpy as np
import pytest

from analysis.report import plots
from analysis.report import rollout_plots
from analysis.trust import rollout

HALF_WIDTH = 0.05  # of every prediction interval, nats/token
# label -> (threshold, distance in decades of C, actual loss, relative error) per held-out run.
RUNS = {"chinchilla/huber": ((1e9, 0.3, 3.2, 0.01), (1e9, 1.2, 3.0, 0.015),
                             (5e9, 0.8, 2.9, -0.005)),
        "overtraining/huber": ((1e9, 0.3, 3.2, -0.03), (1e9, 1.2, 3.0, 0.01),
                               (5e9, 0.8, 2.9, -0.02))}


def _result() -> rollout.RolloutResult:
  rows = []
  for label, runs in RUNS.items():
    for threshold, distance, actual, error in runs:
      predicted = actual * (1 + error)
      rows.append(dict(label=label, threshold=threshold, distance=distance, actual=actual,
                       predicted=predicted, relative_error=error, low=predicted - HALF_WIDTH,
                       high=predicted + HALF_WIDTH,
                       covered=abs(predicted - actual) <= HALF_WIDTH))
  return rollout.RolloutResult(rows=rows, fits=[], split_by="n", thresholds=[1e9, 5e9],
                               level=0.9)


def test_error_vs_distance_marks_covered_runs_filled_and_the_others_open(artists, drawn):
  axis, = drawn(rollout_plots.error_vs_distance(_result())).axes
  drawn_labels = {item.get_label() for item in axis.collections}
  for label, runs in RUNS.items():
    distance, actual, error = np.array([run[1:] for run in runs]).T
    covered = np.abs(actual * error) <= HALF_WIDTH
    for kind, members in (("covered", covered), ("not covered", ~covered)):
      if not members.any():
        assert f"{label} ({kind})" not in drawn_labels
        continue
      points = artists.labelled(axis, f"{label} ({kind})")
      np.testing.assert_allclose(np.stack(artists.offsets(points)),
                                 [distance[members], 100 * np.abs(error[members])], rtol=1e-12)
      face_alpha = points.get_facecolors()[:, 3]
      assert np.all(face_alpha == 1.0) if kind == "covered" else np.all(face_alpha == 0.0)
  # Overtraining misses by 0.096 and 0.058 nats at 3.2 and 2.9: two open markers.
  assert len(artists.labelled(axis, "overtraining/huber (not covered)").get_offsets()) == 2


def test_final_split_draws_the_largest_thresholds_predictions_with_their_intervals(artists,
                                                                                    drawn):
  axis, = drawn(rollout_plots.final_split(_result())).axes
  assert axis.get_title() == "held out: n >= 5e+09"
  everything = []
  for container, (label, runs) in zip(axis.containers, RUNS.items()):
    assert container.get_label() == label
    last = [run for run in runs if run[0] == 5e9]
    actual = np.array([run[2] for run in last])
    predicted = actual * (1 + np.array([run[3] for run in last]))
    x, y, low, high = artists.error_bars(container)
    np.testing.assert_allclose([x, y], [actual, predicted], rtol=1e-12)
    np.testing.assert_allclose([low, high], [predicted - HALF_WIDTH, predicted + HALF_WIDTH],
                               rtol=1e-12)
    everything += [actual, predicted - HALF_WIDTH, predicted + HALF_WIDTH]
  limits = [np.concatenate(everything).min(), np.concatenate(everything).max()]
  diagonal = artists.labelled(axis, "predicted = actual")
  np.testing.assert_allclose(diagonal.get_xydata(), np.array([limits, limits]).T)


@pytest.mark.parametrize("plot", [rollout_plots.error_vs_distance, rollout_plots.final_split])
def test_figures_save_as_readable_pngs(plot, tmp_path, assert_png):
  width = 6.4 if plot is rollout_plots.error_vs_distance else 5.2
  assert_png(plots.save(plot(_result()), tmp_path / "figure.png"), width)
