"""`adaspike train` records the workload in metrics.json; `adaspike eval --metrics` gives the same numbers."""
from __future__ import annotations

import json

import pytest

from adaspike.cli import main


def test_train_and_eval_report_the_same_workload(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ADASPIKE_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    assert main(["train", "--dataset", "event-digits", "--dt", "20ms", "--pool", "4", "--limit", "60",
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
