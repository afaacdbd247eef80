"""Retime study outputs: per-layer spike rates (per step, Hz, ratio to the source), the rate table, both plots,
the accuracy plot's styles and y-limits, and the paper comparison with a source accuracy of 0.0."""
import json
import math

import numpy as np
import pytest
import torch
from scipy.io import wavfile

from adaspike.report import retime_study as tables
from adaspike.report.retime_study import accuracy_tables, accuracy_ylim, paper_comparison, rate_tables
from adaspike.studies import retime as study
from adaspike.studies.experiment import event_model
from adaspike.studies.retime import RetimeStudyConfig, evaluate_grid, write_outputs

LAYER = "hidden.0.neuron"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ADASPIKE_CACHE", str(tmp_path / "cache"))


def _config(tmp_path, eval_dts=(2e-3, 4e-3, 8e-3)) -> RetimeStudyConfig:
    t = np.arange(3200) / 16000
    for label, freq in (("lo", 300), ("hi", 2500)):
        for i in range(4):
            path = tmp_path / "wavs" / label / f"{i}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            wavfile.write(path, 16000, (np.sin(2 * np.pi * freq * t) * 15000).astype(np.int16))
    return RetimeStudyConfig(dataset="wav-folder", root=str(tmp_path / "wavs"),
                             dataset_options={"channels": 16, "test_fraction": 0.5}, train_dt=4e-3,
                             eval_dts=list(eval_dts), methods=["none", "tau", "zoh", "euler"], spike_rules=["seconds"],
                             neurons=["lif"],
                             batch_size=4, hidden=[8], recurrent=False)


def _model(cfg):
    """An untrained LIF network whose biases make every hidden neuron fire (a level drive, 0.8 to 3 × θ)."""
    torch.manual_seed(0)
    model = event_model(study.load_split(cfg, "test", cfg.train_dt), neuron="lif", hidden=[8], recurrent=False,
                        readout="li-mean", dt=cfg.train_dt)
    with torch.no_grad():
        linear = model.hidden[0].synapse.module
        linear.weight.uniform_(0, 1)
        linear.bias.copy_(torch.linspace(0.8, 3.0, 8))
    return model


def _row(neuron="m", method="zoh", rho=1.0, accuracy=0.5, error=None, hz=None):
    return {"neuron": neuron, "method": method, "train_dt": 4e-3, "eval_dt": 4e-3 * rho, "rho": rho,
            "accuracy": None if error else accuracy, "loss": None, "error": error,
            "spike_rates": None if hz is None else {LAYER: hz * 4e-3 * rho},
            "spike_rates_hz": None if hz is None else {LAYER: hz}, "hidden_rate_hz": hz,
            "rate_ratios": None, "rate_ratio": None, "warnings": []}


def test_evaluate_grid_records_rates_per_step_per_second_and_relative_to_the_source(tmp_path):
    cfg = _config(tmp_path)
    rows = evaluate_grid(_model(cfg), cfg, "lif")
    assert len(rows) == 12 and all(r["error"] is None for r in rows)
    source = next(r for r in rows if r["rho"] == 1.0)
    assert source["hidden_rate_hz"] > 0
    for r in rows:
        assert set(r["spike_rates"]) == {LAYER}
        assert 0 < r["spike_rates"][LAYER] <= 1  # spikes per neuron per step
        assert r["spike_rates_hz"][LAYER] == pytest.approx(r["spike_rates"][LAYER] / r["eval_dt"])
        assert r["hidden_rate_hz"] == pytest.approx(r["spike_rates_hz"][LAYER])
        assert r["rate_ratios"][LAYER] == pytest.approx(r["spike_rates_hz"][LAYER] / source["spike_rates_hz"][LAYER])
        assert r["rate_ratio"] == pytest.approx(r["rate_ratios"][LAYER])
        if r["rho"] == 1.0:
            assert r["rate_ratio"] == 1.0  # every method is the identity at ρ = 1
    by = {(r["method"], r["rho"]): r["rate_ratio"] for r in rows}
    for rho in (0.5, 2.0):
        # 'none' keeps the spikes per step, so its Hz moves like 1/ρ; the ZOH map keeps the rate in Hz closer
        assert abs(math.log(by["zoh", rho])) < abs(math.log(by["none", rho]))
        assert by["none", rho] == pytest.approx(1 / rho, rel=0.4)


def test_write_outputs_writes_the_rate_table_and_both_plots(tmp_path):
    cfg = _config(tmp_path)
    rows = evaluate_grid(_model(cfg), cfg, "lif")
    out = tmp_path / "out"
    out.mkdir()
    result = write_outputs(rows, [], cfg, out)
    text = (out / "retime_study.md").read_text()
    assert "## Hidden spike rates" in text and "seed paper" in text
    assert result["rates"] in text
    rates = result["rates"].splitlines()
    header = next(line for line in rates if line.startswith("| method"))
    assert header == "| method | 2ms (ρ=0.5) | 4ms (ρ=1) | 8ms (ρ=2) |"
    for method in cfg.methods:
        line = next(line for line in rates if line.startswith(f"| {method} |"))
        cells = [c.strip() for c in line.strip("|").split("|")][1:]
        expected = [f"{r['hidden_rate_hz']:.1f}" for r in rows if r["method"] == method]
        assert cells == expected
    for name in ("retime_study.png", "retime_rates.png"):
        assert (out / name).stat().st_size > 1000
    saved = json.loads((out / "retime_study.json").read_text())
    assert saved["rows"][0]["spike_rates_hz"][LAYER] == pytest.approx(rows[0]["spike_rates_hz"][LAYER])


def test_rate_table_has_a_line_per_layer_and_marks_errors():
    rows = [_row(method="zoh", rho=1.0, hz=10.0), _row(method="zoh", rho=2.0, hz=12.5),
            _row(method="euler", rho=1.0, hz=10.0), _row(method="euler", rho=2.0, error="x: method 'euler' ... unstable"),
            _row(method="tau", rho=1.0, hz=10.0), _row(method="tau", rho=2.0, error="x: cannot retime PerStepLIF")]
    cfg = RetimeStudyConfig(methods=["zoh", "euler", "tau"], train_dt=4e-3)
    table = rate_tables(study.add_rate_ratios(rows), cfg)
    assert "| zoh | 10.0 | 12.5 |" in table
    assert "| euler | 10.0 | unstable |" in table and "| tau | 10.0 | refused |" in table
    assert "| euler | 50.0 | unstable |" in accuracy_tables(rows, cfg)
    assert "| tau | 50.0 | refused |" in accuracy_tables(rows, cfg)
    assert rows[1]["rate_ratio"] == pytest.approx(1.25) and rows[3]["rate_ratio"] is None
    two = _row(method="zoh", rho=1.0, hz=10.0)
    two["spike_rates_hz"] = {"a": 4.0, "b": 16.0}
    two["hidden_rate_hz"] = 10.0
    table = rate_tables([two], RetimeStudyConfig(methods=["zoh"]))
    assert "| zoh | a | 4.0 |" in table and "| zoh | b | 16.0 |" in table


def test_without_a_source_row_ratios_are_none_and_outputs_still_write(tmp_path):
    rows = study.add_rate_ratios([_row(method="zoh", rho=0.5, hz=20.0), _row(method="zoh", rho=2.0, hz=5.0)])
    assert all(r["rate_ratio"] is None and r["rate_ratios"] is None for r in rows)
    write_outputs(rows, [], RetimeStudyConfig(methods=["zoh"]), tmp_path)
    assert (tmp_path / "retime_rates.png").stat().st_size > 1000
    silent = study.add_rate_ratios([_row(rho=1.0, hz=0.0), _row(rho=2.0, hz=3.0)])
    assert silent[1]["rate_ratio"] is None  # a silent source has no ratio


def test_paper_comparison_keeps_a_source_accuracy_of_zero():
    rows = [_row(method="zoh", rho=1.0, accuracy=0.0), _row(method="zoh", rho=0.5, accuracy=0.25),
            _row(method="tau", rho=0.5, accuracy=0.0)]
    first = paper_comparison(rows)[0]
    assert first["source (ρ=1)"] == "0.0"
    assert first["tau at ρ=1/2"] == "0.0" and first["best map at ρ=1/2"] == "zoh 25.0"
    assert paper_comparison([_row(method="zoh", rho=0.5)])[0]["source (ρ=1)"] == "-"


def test_accuracy_ylim_never_zooms_into_a_tiny_spread():
    lo, hi = accuracy_ylim([50.0, 50.2, 50.4])
    assert hi - lo >= 10 and lo < 50.0 and hi > 50.4
    lo, hi = accuracy_ylim([99.5, 100.0])
    assert hi - lo >= 10 and hi <= 102 and lo < 99.5
    lo, hi = accuracy_ylim([0.0, 0.5])
    assert hi - lo >= 10 and lo >= -2
    lo, hi = accuracy_ylim([0.0, 100.0])
    assert lo <= 0 and hi >= 100 and lo >= -2 and hi <= 102
    assert accuracy_ylim([]) == (0.0, 100.0)


def test_accuracy_plot_lines_are_distinguishable(tmp_path, monkeypatch):
    figures = []
    real = tables.save_figure
    monkeypatch.setattr(tables, "save_figure", lambda fig, path: (figures.append(fig), real(fig, path))[1])
    methods = ["none", "tau", "zoh", "euler", "bilinear"]
    rows = [_row(method=m, rho=rho, accuracy=0.8 + 0.001 * i) for i, m in enumerate(methods) for rho in (0.5, 1, 2)]
    tables.plot(rows, RetimeStudyConfig(methods=methods), tmp_path / "acc.png")
    ax = figures[0].axes[0]
    lines = [line for line in ax.get_lines() if line.get_label() in methods]
    assert len(lines) == 5
    assert len({line.get_marker() for line in lines}) == 5
    assert len({str(line.get_linestyle()) for line in lines}) >= 4
    assert all(line.get_alpha() is not None and line.get_alpha() < 1 for line in lines)
    lo, hi = ax.get_ylim()
    assert hi - lo >= 10
    assert (tmp_path / "acc.png").stat().st_size > 1000
