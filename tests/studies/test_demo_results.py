"""The demo's results.md: accuracy as a percentage in every rendered cell (a fraction internally), no 'None'."""
from __future__ import annotations

import re

from adaspike.studies.demo import _report, percent, study_rows

CORE = {"test_accuracy": 0.9642, "spike_rates": {"hidden.0.neuron": 0.0612}}
# shaped like each study's demo() result: retime's rows and own table (percent text), convert's rows with
# accuracy in percent and None where a method has no Γ/SSC/IAT, coding's rows with fractions
SUMMARY = {
    "core": CORE,
    "retime": {"table": "| method | 2 ms | 8 ms |\n|---|---|---|\n| zoh | 95.0 | 94.1 |\n",
               "rows": [{"method": "zoh", "accuracy": 0.95}], "headline": "retimed 4 ms -> 2 ms: zoh 95.0%"},
    "convert": {"ann_accuracy": 0.9305, "rows": [
        {"T": 2, "method": "baseline", "accuracy": 88.5, "delta_pp": -4.55, "mean_steps": 2.0, "energy_uJ": 0.012,
         "saving_vs_ann_%": 61.0, "sops_M": 0.01, "gammas": None, "ssc_ratios": None, "iat_alpha_beta": None},
        {"T": 2, "method": "+adafire", "accuracy": 92.7, "delta_pp": -0.35, "mean_steps": 2.0, "energy_uJ": 0.02,
         "saving_vs_ann_%": 40.2, "sops_M": 0.02, "gammas": [2, 4], "ssc_ratios": None, "iat_alpha_beta": None}]},
    "coding": {"rows": [{"model": "lenet", "encoding": "hybrid", "adaptive": "on", "T": 2, "seed": 0,
                         "accuracy": 0.8123, "val_accuracy": 0.80, "best_epoch": 9, "train_accuracy": 0.9,
                         "epoch_time_s": 1.5, "peak_mem_mb": 10.0, "spikes_per_sample": 1234.0, "params": 5000}]},
}
ROWS = [{"part": "core", "what": "recurrent adLIF, event-digits, dt 4 ms", "test accuracy": 0.9642, "time (s)": 95.2},
        {"part": "retime", "what": "retimed 4 ms -> 2 ms: zoh 95.0%", "test accuracy": None, "time (s)": 10.0},
        {"part": "convert", "what": "best: method +adafire, T 2: 92.7 %", "test accuracy": None, "time (s)": 50.0},
        {"part": "coding", "what": "best: model lenet: 81.2 %", "test accuracy": None, "time (s)": 30.0}]


def _columns(text: str, header: str) -> list[str]:
    """The cells of the column named ``header`` in every Markdown table of ``text`` that has one."""
    cells = []
    for table in re.findall(r"((?:^\|.*\|\n?)+)", text, flags=re.M):
        lines = [[c.strip() for c in line.strip().strip("|").split("|")] for line in table.strip().splitlines()]
        if header in lines[0]:
            cells += [line[lines[0].index(header)] for line in lines[2:]]
    return cells


def test_results_md_shows_percentages_and_no_none(tmp_path):
    _report(tmp_path, CORE, ROWS, SUMMARY)
    text = (tmp_path / "results.md").read_text()
    assert "None" not in text
    accuracy_cells = _columns(text, "test accuracy") + _columns(text, "validation accuracy")
    assert accuracy_cells and all(c == "–" or re.fullmatch(r"\d{1,3}\.\d %", c) for c in accuracy_cells), accuracy_cells
    assert "96.4 %" in text and "92.7 %" in text and "81.2 %" in text  # core, convert (percent in), coding
    assert "0.9642" not in text and "0.8123" not in text  # no fraction rendered as such


def test_accuracy_is_a_fraction_internally():
    assert study_rows("convert", SUMMARY["convert"])[1]["accuracy"] == 0.927
    assert study_rows("coding", SUMMARY["coding"])[0]["accuracy"] == 0.8123
    assert percent(0.9642) == "96.4 %" and percent(None) == "–"
