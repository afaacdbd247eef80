"""The retime study's any-clock columns: drifting clocks (told and naive), event-driven runs and sub-steps."""
from __future__ import annotations

import json

import pytest
import torch

from adaspike.cli import main
from adaspike.models import build_model
from adaspike.train import save_checkpoint


@pytest.mark.slow
def test_study_writes_the_any_clock_rows_and_table(tmp_path, monkeypatch):
    monkeypatch.setenv("ADASPIKE_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    model = build_model("snn", input_shape=[2, 9, 9], classes=10, hidden=[12], neuron="lif", dt=20e-3)
    ckpt = save_checkpoint(tmp_path / "src" / "model.safetensors", model,
                           {"data": {"dataset": "event-digits", "dt": 20e-3, "options": {"pool": 4, "limit": 30}}})
    assert main(["study", "retime", "--checkpoint", str(ckpt), "--dataset", "event-digits", "--eval-dt", "20ms,40ms",
                 "--methods", "zoh", "--spike-rules", "seconds", "--jitter", "0.3", "--events", "--event-limit",
                 "3", "--substeps", "--no-progress", "-o", str(tmp_path / "study")]) == 0
    result = json.loads((tmp_path / "study" / "retime_study.json").read_text())
    clocks = {(r["clock"], r["told"]) for r in result["clock"]}
    assert ("jitter ±30%", True) in clocks and ("jitter ±30%", False) in clocks
    assert ("regular 40ms, sub-steps", True) in clocks
    events = next(r for r in result["clock"] if r["clock"].startswith("event times"))
    assert events["samples"] == 3 and events["fewer_updates_than_dense_at_resolution"] > 5
    text = (tmp_path / "study" / "retime_study.md").read_text()
    assert "## Any clock" in text and "nominal dt (naive)" in text and "× fewer than dense" in text
