"""Shared test set-up: 8 fake CPU devices (set before jax is imported), Ray kept on a loopback
node address whichever test imports it first, jax.numpy refusing implicit rank promotion, and
data fixtures."""
import os
import pathlib

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Read when ray is imported: without it Ray on Linux replaces a loopback node address by the
# machine's (tests/scaling/conftest.py, `loopback_ray`).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import jax  # noqa: E402
import pytest  # noqa: E402

# An operation on arrays of different ranks must broadcast explicitly (x[None], x[:, None]):
# an implicit promotion raises, so that a shape mistake fails a test instead of broadcasting.
jax.config.update("jax_numpy_rank_promotion", "raise")

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
_COMPILATION_CACHE = {"jax_compilation_cache_dir": None,
                      "jax_persistent_cache_min_compile_time_secs": 0.0,
                      "jax_persistent_cache_min_entry_size_bytes": 0}


@pytest.fixture(scope="session", autouse=True)
def compilation_cache(tmp_path_factory):
  """One persistent compilation cache for the whole session, in this process and in every
  process a test starts (train.py, the sweep launcher, Ray workers: through the JAX_*
  environment variables), so a program compiled once loads from disk after; then restores the
  settings."""
  values = dict(_COMPILATION_CACHE,
                jax_compilation_cache_dir=str(tmp_path_factory.mktemp("jax_cache")))
  previous = {name: getattr(jax.config, name) for name in values}
  with pytest.MonkeyPatch.context() as patch:
    for name, value in values.items():
      jax.config.update(name, value)
      patch.setenv(name.upper(), str(value))
    yield
  for name, value in previous.items():
    jax.config.update(name, value)


@pytest.fixture(autouse=True)
def fresh_programs():
  """Empty program caches (`training.programs`) in every test: a test that patches a step
  function must not be given a program traced before the patch."""
  from training import programs  # pylint: disable=g-import-not-at-top
  programs.INITS.clear()
  programs.TRAIN_STEPS.clear()
  programs.EVAL_STEPS.clear()


@pytest.fixture(autouse=True)
def machine_throughput_cache(tmp_path_factory, monkeypatch) -> pathlib.Path:
  """A fresh per-machine calibration cache (`scaling.estimate.MACHINE_CACHE`) in every test, so
  that whether a dry run measures does not depend on the tests before it."""
  from scaling import estimate  # pylint: disable=g-import-not-at-top
  cache = tmp_path_factory.mktemp("machine_cache") / "throughput.json"
  monkeypatch.setattr(estimate, "MACHINE_CACHE", cache)
  return cache


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
  from benchmarks import scipy_chinchilla  # pylint: disable=g-import-not-at-top
  n, d, loss = scipy_chinchilla.load_epoch(
      shared_data / "chinchilla_epoch" / "svg_extracted_data.csv")
  return dict(n=n, d=d, loss=loss)


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
