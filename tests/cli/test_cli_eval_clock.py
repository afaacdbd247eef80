"""``adaspike eval`` on other clocks (--jitter, --events) and the provenance its JSON records."""
from __future__ import annotations

import json

import pytest
import torch

from adaspike.cli import main
from adaspike.models import build_model
from adaspike.train import save_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("snn", input_shape=[2, 9, 9], classes=10, hidden=[16], neuron="lif", recurrent=True,
                        dt=20e-3)
    path = tmp_path_factory.mktemp("ckpt") / "model.safetensors"
    save_checkpoint(path, model, {"data": {"dataset": "event-digits", "dt": 20e-3,
                                           "options": {"pool": 4, "limit": 12}}})
    return path


def _eval(checkpoint, tmp_path, *flags):
    out = tmp_path / "e.json"
    assert main(["eval", str(checkpoint), "--no-progress", "-o", str(out), *flags]) == 0
    return json.loads(out.read_text())


def test_eval_records_what_it_ran(checkpoint, tmp_path):
    result = _eval(checkpoint, tmp_path)
    p = result["provenance"]
    assert p["checkpoint"] == str(checkpoint) and len(p["checkpoint_sha256"]) == 64
    assert (p["dataset"], p["split"], p["samples"]) == ("event-digits", "test", result["samples"])
    assert p["model_dt"] == pytest.approx(0.02) and p["data_dt"] == pytest.approx(0.02)
    assert p["clock"] == {"kind": "fixed"} and p["options"]["pool"] == 4


def test_eval_on_a_drifting_clock_told_and_naive(checkpoint, tmp_path):
    told = _eval(checkpoint, tmp_path, "--jitter", "0.3")
    naive = _eval(checkpoint, tmp_path, "--jitter", "0.3", "--nominal-clock")
    assert told["provenance"]["clock"]["model_told_true_steps"] is True
    assert naive["provenance"]["clock"]["model_told_true_steps"] is False
    assert told["clock_cost"]["steps_per_sample"] == 15  # 0.3 s at 20 ms
    assert told["samples"] == naive["samples"] > 0


def test_eval_at_another_step_runs_the_model_on_that_clock(checkpoint, tmp_path):
    """--dt other than the model's: told the step (what `adaspike retime` gives), or naive with --nominal-clock."""
    from adaspike.retime import retime
    from adaspike.train import load_model

    told = _eval(checkpoint, tmp_path, "--dt", "10ms")
    naive = _eval(checkpoint, tmp_path, "--dt", "10ms", "--nominal-clock")
    assert told["provenance"]["clock"]["kind"] == "regular" and naive["provenance"]["clock"] == {"kind": "fixed"}
    retimed = tmp_path / "retimed.safetensors"
    save_checkpoint(retimed, retime(load_model(checkpoint), dt=10e-3),
                    {"data": {"dataset": "event-digits", "dt": 10e-3, "options": {"pool": 4, "limit": 12}}})
    reference = _eval(retimed, tmp_path)
    assert told["samples"] == reference["samples"] > 0
    assert told["accuracy"] == pytest.approx(reference["accuracy"]) and told["loss"] == pytest.approx(reference["loss"],
                                                                                                       rel=1e-4)
    assert naive["loss"] != pytest.approx(told["loss"], rel=1e-4)


@pytest.mark.slow
def test_eval_event_driven_counts_fewer_state_updates_than_the_dense_grid(checkpoint, tmp_path):
    result = _eval(checkpoint, tmp_path, "--events")
    cost = result["clock_cost"]
    assert result["provenance"]["clock"]["kind"] == "events"
    dense = cost["dense_updates_per_sample"]["1e-06s"]
    assert cost["state_updates_per_sample"] * 5 < dense
    assert cost["seconds_per_sample"] == pytest.approx(0.3)


@pytest.mark.parametrize("flags, message", [
    (["--jitter", "0.3", "--events"], "choose one clock"),
    (["--nominal-clock"], "needs --jitter or --dt"),
    (["--jitter", "1.5"], r"\[0, 1\)"),
])
def test_eval_refuses_contradictory_clocks(checkpoint, capsys, flags, message):
    assert main(["eval", str(checkpoint), "--no-progress", *flags]) == 1
    import re
    assert re.search(message, capsys.readouterr().err)
