"""`adaspike train` records the workload in metrics.json; `adaspike eval --metrics` gives the same numbers."""
from __future__ import annotations

import json

import pytest

from adaspike.cli import main


@pytest.mark.slow
def test_train_and_eval_report_the_same_workload(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ADASPIKE_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    assert main(["train", "--dataset", "event-digits", "--model", "snn", "--dt", "20ms", "--pool", "4", "--limit", "60",
                 "--hidden", "16", "--epochs", "1", "--no-progress", "-o", str(out)]) == 0
    trained = json.loads((out / "metrics.json").read_text())["workload"]
    capsys.readouterr()
    assert main(["eval", str(out / "model.safetensors"), "--metrics", "--no-progress",
                 "-o", str(tmp_path / "e.json")]) == 0
    evaluated = json.loads((tmp_path / "e.json").read_text())["metrics"]
    assert evaluated["samples"] == trained["samples"] > 0
    assert evaluated["dt_s"] == pytest.approx(0.02)
    for key in ("acs", "dense", "recurrent_acs", "energy_pj"):
        assert evaluated["adaspike"][key] == pytest.approx(trained["adaspike"][key]), key
    nb, nb_trained = evaluated["neurobench"], trained["neurobench"]
    assert nb["synaptic_operations"] == pytest.approx(nb_trained["synaptic_operations"])
    assert (nb["activation_sparsity"], nb["membrane_updates"]) == \
        pytest.approx((nb_trained["activation_sparsity"], nb_trained["membrane_updates"]))
    assert any(layer["kind"] == "recurrent" for layer in evaluated["layers"])
    assert (tmp_path / "e_layers.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the per-layer plot
    # evaluated on data binned at 10 ms: twice the steps, and the per-second figures follow the data's step
    assert main(["eval", str(out / "model.safetensors"), "--metrics", "--no-progress", "--dt", "10ms",
                 "-o", str(tmp_path / "e10.json")]) == 0
    finer = json.loads((tmp_path / "e10.json").read_text())["metrics"]
    assert finer["dt_s"] == pytest.approx(0.02) and finer["steps"] == 2 * evaluated["steps"]
    assert finer["input_seconds"] == pytest.approx(evaluated["input_seconds"])
