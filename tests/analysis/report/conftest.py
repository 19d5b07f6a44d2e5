"""Fixtures of the report tests: a sweep's results.csv with per-run eval curves."""
import json
import pathlib
from collections.abc import Callable, Sequence

import numpy as np
import pytest

from analysis.table import observations


@pytest.fixture
def sweep_with_curves(tmp_path: pathlib.Path) -> Callable[..., observations.Observations]:
  """A maker of results.csv tables (in tmp_path) of runs from L = 1.69 + 406.4/N^0.34 +
  410.7/D^0.28: one run per size (parameters) and horizon (tokens per parameter), each with its
  eval curve, n_params_total = 1.2 N and exact FLOPs 7ND."""

  def make(sizes: Sequence[float], horizons: Sequence[float] = (10, 40, 160)
           ) -> observations.Observations:
    lines = ["run_id,seed,n_layers,d_model,n_params_total,n_params_non_embedding,tokens,"
             "flops_6nd,flops_exact,final_eval_loss,final_train_loss,status,wall_seconds,"
             "curve_path,compute_budget"]
    for size in sizes:
      for multiple in horizons:
        run_id = f"n{size:.0e}_x{multiple}"
        tokens = np.geomspace(size * 0.5, size * multiple, 25)
        loss = 1.69 + 406.4 / size ** 0.34 + 410.7 / tokens ** 0.28
        curve = tmp_path / f"{run_id}.jsonl"
        curve.write_text("".join(
            json.dumps(dict(kind="eval", tokens=float(t), eval_loss=float(v))) + "\n"
            for t, v in zip(tokens, loss)))
        lines.append(f"{run_id},0,2,64,{size * 1.2},{size},{tokens[-1]},"
                     f"{6 * size * tokens[-1]},{7 * size * tokens[-1]},{loss[-1]},{loss[-1]},"
                     f"completed,1,{curve.name},")
    (tmp_path / "results.csv").write_text("\n".join(lines) + "\n")
    return observations.Observations.from_results_csv(tmp_path / "results.csv")

  return make


class Artists:
  """Reads back what a matplotlib Axes shows, in data coordinates."""

  @staticmethod
  def labelled(axis, label: str):
    """The one line or collection of `axis` with this legend label."""
    found = [artist for artist in [*axis.lines, *axis.collections, *axis.patches]
             if artist.get_label() == label]
    assert len(found) == 1, (label, [a.get_label() for a in [*axis.lines, *axis.collections]])
    return found[0]

  @staticmethod
  def offsets(collection) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of a scatter's points."""
    points = np.asarray(collection.get_offsets())
    return points[:, 0], points[:, 1]

  @staticmethod
  def band(collection, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of a fill_between band at each of `x`."""
    vertices = collection.get_paths()[0].vertices
    edges = [vertices[vertices[:, 0] == value, 1] for value in x]
    assert all(edge.size for edge in edges), "x not among the band's vertices"
    return np.array([edge.min() for edge in edges]), np.array([edge.max() for edge in edges])

  @staticmethod
  def error_bars(container) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, bar low, bar high) of an errorbar's points."""
    x, y = container.lines[0].get_xydata().T
    segments = np.array(container.lines[2][0].get_segments())
    np.testing.assert_array_equal(segments[:, 0, 0], x)
    return x, y, segments[:, :, 1].min(axis=1), segments[:, :, 1].max(axis=1)


@pytest.fixture
def artists() -> Artists:
  return Artists()


@pytest.fixture
def drawn():
  """drawn(figure) -> figure, closed after the test (pass or fail)."""
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  figures = []

  def keep(figure):
    figures.append(figure)
    return figure

  yield keep
  for figure in figures:
    plt.close(figure)


# The law behind `isoflop_csv`'s runs (Hoffmann et al.-like constants, nats/token).
ISOFLOP_LAW = dict(E=1.8, A=480.0, B=2100.0, alpha=0.35, beta=0.37)


@pytest.fixture(scope="module")
def isoflop_csv() -> Callable[..., pathlib.Path]:
  """`isoflop_csv(path, extra_rows=())`: writes 4 IsoFLOP budgets (1e18-1e21 FLOPs) x 6 sizes
  (optimum / 5 .. optimum x 5) of runs from ISOFLOP_LAW with 0.3% log-normal noise, columns
  name (run-1 .. run-24), params, flop, final_loss, then `extra_rows`; returns `path`."""

  def write(path: pathlib.Path, extra_rows: Sequence[str] = ()) -> pathlib.Path:
    law, rng = ISOFLOP_LAW, np.random.default_rng(0)
    lines = ["name,params,flop,final_loss"]
    for flops in np.geomspace(1e18, 1e21, 4):
      optimum = 0.6 * (flops / 6) ** 0.5
      for n in np.geomspace(optimum / 5, optimum * 5, 6):
        d = flops / (6 * n)
        loss = (law["E"] + law["A"] / n ** law["alpha"] + law["B"] / d ** law["beta"]
                ) * np.exp(rng.normal(0, 0.003))
        lines.append(f"run-{len(lines)},{n:.6g},{flops:.6g},{loss:.6f}")
    path.write_text("\n".join([*lines, *extra_rows]) + "\n")
    return path

  return write
