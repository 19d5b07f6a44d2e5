"""Shared test set-up: 8 fake CPU devices (set before jax is imported) and data fixtures."""
import os
import pathlib

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pytest  # noqa: E402

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> pathlib.Path:
  """The published scaling-law measurements beside the project; skips when absent."""
  if not SHARED_DATA.is_dir():
    pytest.skip(f"shared data not found at {SHARED_DATA}")
  return SHARED_DATA


@pytest.fixture
def epoch_chinchilla(shared_data) -> dict:
  """Epoch's 240 Chinchilla points less the 5 highest losses, as Besiroglu et al. 2024 fit
  them: n (parameters), d = C / 6N (tokens), loss (nats/token)."""
  import csv  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  with open(shared_data / "chinchilla_epoch" / "svg_extracted_data.csv") as handle:
    rows = list(csv.DictReader(handle))
  n = np.array([float(row["Model Size"]) for row in rows])
  flops = np.array([float(row["Training FLOP"]) for row in rows])
  loss = np.array([float(row["loss"]) for row in rows])
  keep = loss < np.sort(loss)[-5]
  return dict(n=n[keep], d=flops[keep] / (6 * n[keep]), loss=loss[keep])


@pytest.fixture
def assert_png():
  """A check that `path` is a PNG `width_inches` wide at the report's resolution, with something
  drawn on it."""
  import matplotlib.image  # pylint: disable=g-import-not-at-top

  def check(path: pathlib.Path, width_inches: float) -> None:
    image = matplotlib.image.imread(path)
    assert image.shape[1] == pytest.approx(width_inches * 110, abs=2)
    assert image[..., :3].std() > 0.01
  return check
