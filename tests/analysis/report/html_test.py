"""report.html (analysis/report/html.py): self-contained, and rendered by headless Chromium."""
import pathlib
import re
import shutil
import subprocess
import types

import matplotlib.image
import numpy as np
import pytest

from analysis.fitting import options as fit_options
from analysis.report import document as report
from analysis.table import observations

pytest.importorskip("plotly")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PLOTLY_BLUE = np.array([99, 110, 250]) / 255  # plotly's first trace colour, the runs' markers


@pytest.fixture(scope="module")
def built(tmp_path_factory, isoflop_csv) -> tuple[pathlib.Path, dict]:
  """A report of 4 IsoFLOP budgets x 6 sizes (runs named run-1 .. run-24): (folder, summary)."""
  out = tmp_path_factory.mktemp("report")
  isoflop_csv(out / "runs.csv")
  table = observations.Observations.from_csv(
      out / "runs.csv", dict(run_id="name", n="params", c="flop", loss="final_loss"))
  summary = report.build(table, out, n_resamples=6, table_flops=[1e22], kaplan=False,
                         single_variable=False,
                         fit_options=fit_options.FitOptions(rollout_forms=("chinchilla",),
                                                            rollout_resamples=6,
                                                            rollout_thresholds=(1e20,)))
  return out, summary


@pytest.mark.slow
def test_report_html_holds_every_section_and_figure_offline(built):
  out, _ = built
  page = (out / "report.html").read_text()
  assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"(https?:)?//", page)
  assert page.count("Plotly.newPlot(") == 4  # loss, law fit, residuals, extrapolation
  headings = re.findall(r"^## (.+)$", (out / "report.md").read_text(), flags=re.MULTILINE)
  assert len(headings) >= 8
  for heading in headings:
    assert f"<h2>{heading.replace('&', '&amp;')}</h2>" in page
  for name in ("loss_vs_compute", "law_fit", "residuals", "extrapolation"):
    assert f'id="figure-{name}"' in page
  assert len(re.findall(r'<img alt="[^"]*" src="data:image/png;base64,', page)) == 6
  assert all(f'"run-{i}"' in page for i in range(1, 25))
  assert "N = %{customdata[0]:.4g} parameters" in page and "loss = %{customdata[3]" in page


def _chromium(*arguments: str, profile: pathlib.Path) -> subprocess.CompletedProcess:
  return subprocess.run(
      [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
       "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}",
       "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", *arguments],
      capture_output=True, text=True, timeout=120, check=True)


@pytest.mark.slow
def test_report_html_renders_in_headless_chromium(built, tmp_path):
  if not pathlib.Path(CHROMIUM).is_file():
    pytest.skip("headless Chromium not installed (apt-get install chromium; .ci/run does)")
  out, _ = built
  url = (out / "report.html").as_uri()
  dom = _chromium("--dump-dom", url, profile=tmp_path / "dom")
  assert "CONSOLE" not in dom.stderr, [l for l in dom.stderr.splitlines() if "CONSOLE" in l]
  charts = re.split(r'<div id="figure-', dom.stdout)[1:]
  points = {chart.split('"', 1)[0]: len(re.findall(r'class="point ', chart)) for chart in charts}
  assert points == dict(loss_vs_compute=24, law_fit=24, residuals=24, extrapolation=6)
  _chromium("--window-size=1200,16000", "--hide-scrollbars",
            f"--screenshot={tmp_path / 'page.png'}", url, profile=tmp_path / "shot")
  image = matplotlib.image.imread(tmp_path / "page.png")[..., :3]
  markers = np.all(np.abs(image - PLOTLY_BLUE) < 0.03, axis=-1)
  rows = np.flatnonzero(markers.sum(axis=1))
  assert markers.sum() > 500  # the runs' markers were painted
  assert np.ptp(rows) > 2000  # in charts far apart down the page, not in one
  assert image.std() > 0.1


def test_the_extrapolation_chart_draws_the_calibrated_intervals_beside_the_bootstrap_ones():
  import plotly.graph_objects as go  # pylint: disable=g-import-not-at-top
  from analysis.report import html  # pylint: disable=g-import-not-at-top
  held_out = [dict(run_id="a", actual=3.0, predicted=2.9, prediction_low=2.85,
                   prediction_high=2.95),
              dict(run_id="b", actual=2.5, predicted=2.45, prediction_low=2.4,
                   prediction_high=2.5)]
  calibrated = [dict(run_id="b", predicted=2.48, low=2.3, high=2.6),
                dict(run_id="a", predicted=2.97, low=2.8, high=3.2)]
  analysis = types.SimpleNamespace(
      summary=dict(extrapolation=dict(runs=held_out, level=0.95),
                   calibration=dict(held_out=dict(runs=calibrated))),
      run_ids=np.array(["a", "b"]), runs=dict(n=np.array([1e3, 2e3]), d=np.array([1e6, 2e6]),
                                              c=np.array([6e9, 2.4e10]), loss=np.zeros(2)))
  bootstrap, recalibrated, identity = html.extrapolation(go, analysis).data
  np.testing.assert_allclose(bootstrap.y, [2.9, 2.45])
  np.testing.assert_allclose(bootstrap.error_y.arrayminus, [0.05, 0.05])
  assert recalibrated.name == "calibrated by the record (95% interval)"
  np.testing.assert_allclose(recalibrated.x, [2.5, 3.0])  # each at its own run's actual loss
  np.testing.assert_allclose(recalibrated.y, [2.48, 2.97])
  np.testing.assert_allclose(recalibrated.error_y.array, [0.12, 0.23])
  np.testing.assert_allclose(recalibrated.error_y.arrayminus, [0.18, 0.17])
  assert min(identity.x) == pytest.approx(2.3) and max(identity.x) == pytest.approx(3.2)
  del analysis.summary["calibration"]
  assert len(html.extrapolation(go, analysis).data) == 2
