"""The CLI: ``adaspike retime CHECKPOINT`` and a tiny ``adaspike study retime`` on a generated WAV folder."""
import json

import numpy as np
import pytest
import torch
from scipy.io import wavfile

from adaspike.cli import main
from adaspike.models import build_model
from adaspike.train import load_model, save_checkpoint


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ADASPIKE_CACHE", str(tmp_path / "cache"))


def test_retime_command_round_trip(tmp_path, capsys):
    torch.manual_seed(0)
    model = build_model("snn", input_shape=[6], classes=2, hidden=[5], neuron="lif", dt=4e-3)
    src = save_checkpoint(tmp_path / "src.safetensors", model)
    out = tmp_path / "fine.safetensors"
    assert main(["retime", str(src), "--dt", "2ms", "--method", "bilinear", "-o", str(out)]) == 0
    assert "ρ = 0.5" in capsys.readouterr().out
    fine = load_model(out)
    x = torch.rand(8, 3, 6)
    assert fine.retime_info.method == "bilinear" and fine(torch.repeat_interleave(x, 2, 0)).shape == (3, 2)
    with pytest.warns(RuntimeWarning, match="oscillates"):  # α = e^{-4/20}: 1 − 8(1 − α) ≈ −0.45
        assert main(["retime", str(src), "--ratio", "8", "--method", "euler", "--overwrite", "-o", str(out)]) == 0
    assert main(["retime", str(src), "--ratio", "16", "--method", "euler", "--overwrite", "-o", str(out)]) == 1
    assert "unstable" in capsys.readouterr().err
    assert main(["retime", str(tmp_path / "missing.safetensors"), "--dt", "1ms", "-o", str(out)]) == 1


@pytest.mark.slow
def test_study_on_a_wav_folder(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(3200) / 16000
    for label, freq in (("lo", 300), ("hi", 2500)):
        for i in range(6):
            path = tmp_path / "wavs" / label / f"{i}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sig = np.sin(2 * np.pi * freq * (1 + 0.05 * rng.standard_normal()) * t) * 15000
            wavfile.write(path, 16000, sig.astype(np.int16))
    out = tmp_path / "study"
    code = main(["study", "retime", "--dataset", "wav-folder", "--root", str(tmp_path / "wavs"),
                 "--dataset-options", json.dumps({"channels": 16, "test_fraction": 0.34}),
                 "--eval-dt", "2ms,4ms,8ms", "--methods", "none,tau,zoh", "--neuron", "lif", "--epochs", "1",
                 "--hidden", "8", "--feedforward", "--batch-size", "4", "--out", str(out)])
    assert code == 0
    result = json.loads((out / "retime_study.json").read_text())
    # none + (tau, zoh) × (spike rule in seconds, plain per-step rule), at three steps
    assert len(result["rows"]) == 15 and {r["rho"] for r in result["rows"]} == {0.5, 1.0, 2.0}
    assert {r["variant"] for r in result["rows"]} == {"none", "tau", "tau (plain)", "zoh", "zoh (plain)"}
    assert all(0 <= r["accuracy"] <= 1 for r in result["rows"])
    at_one = {r["variant"]: r["accuracy"] for r in result["rows"] if r["rho"] == 1.0}
    assert len(set(at_one.values())) == 1  # every method is the identity at ρ = 1
    assert (out / "retime_study.png").stat().st_size > 1000
    assert "seed paper" in (out / "retime_study.md").read_text()


def test_retimed_checkpoint_keeps_its_data_at_the_new_step(tmp_path):
    from adaspike.train import read_checkpoint

    torch.manual_seed(0)
    model = build_model("snn", input_shape=[6], classes=2, hidden=[5], neuron="lif", dt=4e-3)
    src = save_checkpoint(tmp_path / "src.safetensors", model,
                          {"data": {"dataset": "spoken-digits", "dt": 4e-3, "options": {"pool": 5}}})
    out = tmp_path / "fine.safetensors"
    assert main(["retime", str(src), "--dt", "1ms", "-o", str(out)]) == 0
    _, _, meta = read_checkpoint(out)
    assert meta["data"] == {"dataset": "spoken-digits", "dt": 1e-3, "options": {"pool": 5}}
    assert meta["retime"]["spike_rule"] == "seconds"
