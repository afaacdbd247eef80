"""The event-frames conversion study's mean-frame control, on the real event-digits data."""
from __future__ import annotations

import json

import pytest
import torch

from adaspike.convert import convert
from adaspike.studies.convert import event_frames_study


def test_constant_frames_equal_direct_coding_of_the_mean():
    """What the control relies on: frames that do not change over time, fed one per step, give the SNN the
    same input as direct coding of their mean, so logits must match exactly."""
    g = torch.Generator().manual_seed(0)
    ann = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 6 * 6, 3)).eval()
    mean = torch.rand(16, 2, 6, 6, generator=g)
    frames = mean.unsqueeze(1).expand(16, 4, 2, 6, 6).contiguous()
    direct, _ = convert(ann, mean, T=4, adafire=False)
    framed, _ = convert(ann, frames, T=4, adafire=False, frames=True)
    assert torch.equal(direct.run(mean).logits, framed.run(frames).logits)


@pytest.mark.slow
def test_study_writes_the_mean_frame_control(tmp_path):
    result = event_frames_study(tmp_path, T=2, epochs=1, mean_frame_control=True)
    assert [r["method"] for r in result["control_rows"]] == ["baseline", "+adafire"]
    saved = json.loads((tmp_path / "convert_events_event-digits_T2_meanframe.json").read_text())
    assert saved["meta"]["snn_input"] == "the mean frame at every step"
    assert [r["method"] for r in saved["rows"]] == ["baseline", "+adafire"]
