"""report.html (analysis/report/html.py): self-contained, and rendered by headless Chromium."""
import pathlib
import re
import shutil
import subprocess

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
