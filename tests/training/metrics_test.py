"""Tests for training/metrics.py: smoothing, formatting, JSONL + TensorBoard files, peak FLOPs."""
import json
import math

import pytest

from training import metrics


def test_smoothed_loss_is_bias_corrected_ema():
  smoothed = metrics.SmoothedLoss(decay=0.5)
  assert math.isnan(smoothed.value)
  smoothed.update(4.0)
  assert smoothed.value == pytest.approx(4.0)  # bias correction: no pull toward 0
  smoothed.update(2.0)
  assert smoothed.value == pytest.approx((0.25 * 4 + 0.5 * 2) / 0.75)
  restored = metrics.SmoothedLoss(**smoothed.state())
  assert restored.value == smoothed.value


def test_console_line():
  line = metrics.console_line(5, 10, 2.5, 12345.6, 0.4567, 65)
  assert line == "step 5/10 loss 2.5000 tokens/s 12,346 mfu 45.7% eta 1m05s"
  assert metrics.console_line(5, 10, 2.5, math.nan, math.nan, math.nan).endswith("eta ?")


def test_writer_jsonl_tensorboard_and_truncation(tmp_path, tensorboard_scalars):
  writer = metrics.MetricsWriter(tmp_path)
  for step in (1, 2, 3):
    writer.record({"step": step, "eval_loss": 1.0 / step})
    writer.scalars(step, {"train/loss": 2.0 * step})
  writer.close()
  records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert [record["step"] for record in records] == [1, 2, 3]
  assert tensorboard_scalars(tmp_path / "tensorboard")["train/loss"] == [2.0, 4.0, 6.0]
  metrics.MetricsWriter(tmp_path).truncate_after(2)
  kept = (tmp_path / "metrics.jsonl").read_text().splitlines()
  assert [json.loads(line)["step"] for line in kept] == [1, 2]


def test_disabled_writer_writes_nothing(tmp_path):
  writer = metrics.MetricsWriter(tmp_path, enabled=False)
  writer.record({"step": 1})
  writer.scalars(1, {"a": 1.0})
  writer.close()
  assert not list(tmp_path.iterdir())


def test_peak_flops_override_and_measurement(monkeypatch):
  monkeypatch.setenv(metrics.PEAK_FLOPS_ENV, "2.5e11")
  assert metrics.peak_flops() == 2.5e11
  monkeypatch.setenv(metrics.PEAK_FLOPS_ENV, "-1")
  with pytest.raises(ValueError, match="SCALING_LAB_PEAK_FLOPS"):
    metrics.peak_flops()
  assert 1e8 < metrics.measured_matmul_peak(size=256, repeats=2) < 1e14


def test_peak_is_measured_once_per_host_and_kept(monkeypatch, tmp_path):
  monkeypatch.delenv(metrics.PEAK_FLOPS_ENV, raising=False)
  measured = []
  monkeypatch.setattr(metrics, "measured_matmul_peak",
                      lambda size: measured.append(size) or 1e10 * len(measured))
  cache = tmp_path / "peak.json"
  assert metrics.peak_flops(cache) == metrics.peak_flops(cache) == 1e10
  assert measured == [2048]
  assert list(json.loads(cache.read_text()).values()) == [1e10]
  assert metrics.peak_flops(None) == 2e10
