"""The conversion study: every evaluated SNN carries adaspike.metrics, in the JSON and in a second table."""
import json

import pytest

import torch

from adaspike.models.ann import build_ann
from adaspike.studies.convert import METHODS, _loader, conversion_rows, write_results


@pytest.mark.slow
def test_study_rows_carry_metrics_of_the_same_pass(tmp_path):
    torch.manual_seed(0)
    ann = build_ann("vgg", widths=(4, "M", 8, "M"), hidden=16).eval()
    x, y = torch.rand(48, 1, 28, 28), torch.randint(0, 10, (48,))
    options = {"gammas": (1, 2), "gamma_target": 2, "ssc_ratios": (1.0, 2.0), "threshold_batches": 1}
    rows, ann_ref = conversion_rows(ann, (x, y), _loader(x[:20], y[:20], 8), [2], options=options)
    assert [r["method"] for r in rows] == list(METHODS)
    for r in rows:
        m = r["metrics"]
        assert m["T"] == 2 and m["accuracy_%"] == r["accuracy"] and m["model"] == f"{r['method']} T=2"
        assert m["MACs_M"] > 0 and m["ACs_M"] is not None and m["params"] > 0
    # early exit computes fewer steps, so the metrics' synaptic work cannot exceed the fixed-T run's
    ssc, iat = rows[2]["metrics"], rows[3]["metrics"]
    assert iat["dense_M"] <= ssc["dense_M"] + 1e-9
    table = write_results(tmp_path, "study", rows, ann_ref, {"test": True})
    assert "Workload metrics" in table and "nb_ACs_M" in table
    saved = json.loads((tmp_path / "study.json").read_text())
    assert saved["rows"][0]["metrics"]["model"] == "baseline T=2"
