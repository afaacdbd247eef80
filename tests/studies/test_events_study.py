"""Model choice in `adaspike train` (recipes, user factories), camera-event augmentation and the events study."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings, strategies as st

from adaspike.cli import main
from adaspike.models.factory import TRUST_VARIABLE, import_factory
from adaspike.studies.train_run import MODEL_DEFAULTS, TRAIN_DEFAULTS, train_run, train_settings
from adaspike.train import load_model, read_checkpoint
from adaspike.train.checkpoint import CheckpointError
from adaspike.train.recipes import EventAugment

NMNIST_DEV = Path(__file__).resolve().parents[3] / "shared" / "data" / "nmnist-dev" / "NMNIST"


# -- recipes ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dataset", ["nmnist", "event-digits", "event_fashion_mnist"])
def test_camera_events_train_the_conv_snn_with_its_recipe(dataset):
    s = train_settings(dataset)
    recipe = MODEL_DEFAULTS["conv-snn"]
    assert s["model"] == "conv-snn" and s["epochs"] == recipe["epochs"] and s["neuron"] == recipe["neuron"]
    assert s["options"]["pool"] == recipe["options"]["pool"] and s["model_options"] == recipe["model_options"]
    assert "recurrent" not in s and "readout" not in s  # settings the conv SNN does not read are not carried


@pytest.mark.parametrize("dataset", ["shd", "spoken-digits"])
def test_audio_keeps_the_mlp_recipe(dataset):
    s = train_settings(dataset)
    assert s["model"] == "snn" and all(s[k] == v for k, v in TRAIN_DEFAULTS.items() if k in s)


def test_explicit_settings_win_and_foreign_ones_are_refused():
    s = train_settings("nmnist", "snn", hidden=[64], options={"pool": 4})
    assert s["model"] == "snn" and s["hidden"] == [64] and s["options"]["pool"] == 4
    assert s["epochs"] == TRAIN_DEFAULTS["epochs"]  # the snn recipe, not the conv SNN's
    s = train_settings("nmnist", model_options={"pooling": "avg"}, epochs=3)
    assert s["model_options"] == {**MODEL_DEFAULTS["conv-snn"]["model_options"], "pooling": "avg"} and s["epochs"] == 3
    with pytest.raises(ValueError, match="does not take readout, recurrent"):
        train_settings("nmnist", recurrent=True, readout="li-max")
    with pytest.raises(ValueError, match="--model-options"):
        train_settings("nmnist", "mine.models:net", hidden=[3])


def test_unknown_model_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        train_run(dataset="event-digits", model="nope", limit=20, epochs=1, out=tmp_path, progress=False)


def test_a_static_image_model_is_refused_for_event_data():
    from adaspike.studies.experiment import event_model

    class Events:  # what event_model reads of a dataset
        input_shape, num_classes, dt = (2, 8, 8), 10, 4e-3

    with pytest.raises(ValueError, match="cannot be built for event data.*conv-snn"):
        event_model(Events(), model="spiking-resnet")


# -- user models -------------------------------------------------------------------------------------------------

FACTORY = textwrap.dedent('''
    import torch
    from torch import nn

    class Counts(nn.Module):
        """Sum the counts over time, one linear layer."""
        def __init__(self, features, classes):
            super().__init__()
            self.linear = nn.Linear(features, classes)

        def forward(self, x):
            return self.linear(x.sum(0).flatten(1))

    def tiny(input_shape, classes, width=1):
        import math
        return Counts(math.prod(input_shape), classes)
''')


@pytest.mark.slow
def test_user_factory_trains_and_its_checkpoint_needs_trust(tmp_path, monkeypatch):
    (tmp_path / "my_models.py").write_text(FACTORY)
    monkeypatch.chdir(tmp_path)  # importable from the current folder, as `adaspike train` run there
    monkeypatch.delenv(TRUST_VARIABLE, raising=False)
    result = train_run(dataset="event-digits", model="my_models:tiny", model_options={"width": 2}, limit=40,
                       epochs=1, out=tmp_path / "run", progress=False)
    assert result["model"] == "my_models:tiny" and 0 <= result["test_accuracy"] <= 1
    path = tmp_path / "run" / "model.safetensors"
    spec = read_checkpoint(path)[2]["model"]
    assert spec["name"] == "factory" and spec["kwargs"]["factory"] == "my_models:tiny"
    assert spec["kwargs"]["width"] == 2 and spec["kwargs"]["input_shape"] == [2, 17, 17]
    with pytest.raises(CheckpointError, match=TRUST_VARIABLE):
        load_model(path)
    monkeypatch.setenv(TRUST_VARIABLE, "my_models:tiny")
    assert type(load_model(path)).__name__ == "Counts"


@pytest.mark.parametrize("spec, match", [("no_colon", "package.module:factory"), ("not_a_module_xyz:f", "cannot import"),
                                         ("json:no_such_thing", "no attribute"), ("json:__doc__", "not callable")])
def test_bad_factory_specs_are_clear_errors(spec, match):
    with pytest.raises(ValueError, match=match):
        import_factory(spec)


# -- augmentation -----------------------------------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(shift=st.integers(0, 3), seed=st.integers(0, 10_000))
def test_time_shift_moves_whole_samples(shift, seed):
    torch.manual_seed(seed)
    x = torch.poisson(torch.full((10, 4, 2, 5, 5), 0.5))
    y, _ = EventAugment(time_masks=0, feature_masks=0, max_time_shift=shift)(x, torch.zeros(4))
    assert y.shape == x.shape
    for b in range(4):  # each sample is its own trace moved by one k in [-shift, shift], zero-filled
        matches = [k for k in range(-shift, shift + 1) if torch.equal(y[:, b], _moved(x[:, b], k))]
        assert matches, f"sample {b} is not a time shift of its input"


def _moved(x: torch.Tensor, k: int) -> torch.Tensor:
    out = torch.zeros_like(x)
    T = x.shape[0]
    if k >= 0:
        out[:T - k] = x[k:]
    else:
        out[-k:] = x[:T + k]
    return out


def test_flip_and_area_drop():
    x = torch.arange(2 * 1 * 2 * 3 * 4, dtype=torch.float32).reshape(2, 1, 2, 3, 4) + 1
    flipped, _ = EventAugment(time_masks=0, feature_masks=0, hflip=1.0)(x, torch.zeros(1))
    assert torch.equal(flipped, x.flip(-1))
    torch.manual_seed(0)
    dropped, _ = EventAugment(time_masks=0, feature_masks=0, area_drops=3, max_area_fraction=0.9)(
        x.repeat(1, 8, 1, 1, 1), torch.zeros(8))
    zero = dropped == 0
    assert zero.any() and (zero == zero[:1]).all()  # a rectangle is dropped at every step and polarity alike
    assert (zero.all(2) == zero.any(2)).all()
    assert repr(EventAugment()) == ("EventAugment(time_masks=1, max_time_fraction=0.1, feature_masks=1, "
                                    "max_feature_fraction=0.1, drop=0.0, max_shift=0)")  # unchanged for old runs


@pytest.mark.parametrize("kwargs", [dict(hflip=1.5), dict(max_time_shift=-1), dict(area_drops=0.5),
                                    dict(max_area_fraction=1.0)])
def test_bad_augmentation_is_refused(kwargs):
    with pytest.raises(ValueError):
        EventAugment(**kwargs)


# -- the command line and the study ------------------------------------------------------------------------------

@pytest.mark.slow
def test_train_default_conv_snn_then_retime_and_eval_without_flags(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--dataset", "event-digits", "--limit", "60", "--epochs", "1", "--no-progress",
                 "-o", str(out)]) == 0
    meta = read_checkpoint(out / "model.safetensors")[2]
    assert meta["model"]["name"] == "conv-snn" and meta["data"]["options"]["pool"] == \
        MODEL_DEFAULTS["conv-snn"]["options"]["pool"]
    retimed = tmp_path / "retimed.safetensors"
    assert main(["retime", str(out / "model.safetensors"), "--ratio", "2", "-o", str(retimed)]) == 0
    capsys.readouterr()
    assert main(["eval", str(retimed), "--no-progress", "--limit", "60"]) == 0
    assert 0 <= json.loads(capsys.readouterr().out)["accuracy"] <= 1


@pytest.mark.slow
def test_events_study_end_to_end_on_event_digits(tmp_path):
    from adaspike.studies.events import EventsStudyConfig, run_events_study

    cfg = EventsStudyConfig(dataset="event-digits", models=["conv-snn", "logistic", "conv-ann"], seeds=[0],
                            curve=[30], curve_models=["logistic"], epochs=1, limit=40, isolate=False, convert_T=[3])
    result = run_events_study(cfg, tmp_path)
    assert {r["model"] for r in result["rows"]} == {"conv-snn", "logistic", "conv-ann"}
    assert all(0 <= r["test_accuracy"] <= 1 and r["peak_memory_mb"] >= 0 for r in result["rows"])
    curve = result["curve_rows"]
    assert [r["train_recordings"] for r in curve] == [30] and curve[0]["train_samples"] < 30
    converted = result["conversion_rows"]
    assert {r["T"] for r in converted} == {"-", 3} and any("retimed" in r["model"] for r in converted)
    assert {r["model"] for r in converted if r["T"] == 3} >= {"converted ANN, baseline", "converted ANN, +iat"}
    for name in ("events_study.md", "events_study.json", "events_learning_curve.png", "events_raster.png"):
        assert (tmp_path / name).is_file()
    again = run_events_study(cfg, tmp_path)  # finished runs are reused
    assert [r["test_accuracy"] for r in again["rows"]] == [r["test_accuracy"] for r in result["rows"]]


def test_events_study_config_is_checked():
    from adaspike.studies.events import EventsStudyConfig

    with pytest.raises(ValueError, match="unknown study model"):
        EventsStudyConfig(models=["conv-snn", "svm"])
    with pytest.raises(ValueError, match="at least one seed"):
        EventsStudyConfig(seeds=[])
    with pytest.raises(ValueError, match="learning-curve seeds"):
        EventsStudyConfig(seeds=[0, 1], curve_seeds=[2])


def test_learning_curve_runs_only_its_seeds(tmp_path, monkeypatch):
    """--curve-seeds limits the curve's extra runs; the main rows keep every seed."""
    from adaspike.studies import events

    calls = []
    monkeypatch.setattr(events, "_run_row", lambda cfg, kind, seed, limit, out: calls.append((kind, seed, limit))
                        or {"model": kind, "seed": seed, "limit": limit, "test_accuracy": 0.5})
    monkeypatch.setattr(events, "_training_size", lambda cfg: 100)
    monkeypatch.setattr(events, "write_outputs", lambda *a, **k: {})
    cfg = events.EventsStudyConfig(dataset="event-digits", models=["logistic"], seeds=[0, 1, 2], curve=[30, 100],
                                   curve_models=["logistic"], curve_seeds=[0])
    result = events.run_events_study(cfg, tmp_path)
    assert calls == [("logistic", 0, None), ("logistic", 1, None), ("logistic", 2, None), ("logistic", 0, 30)]
    assert [(r["seed"], r["train_recordings"]) for r in result["curve_rows"]] == [(0, 30), (0, 100)]


@pytest.mark.slow
def test_logistic_baseline_on_real_nmnist():
    if not NMNIST_DEV.is_dir():
        pytest.skip(f"real N-MNIST recordings not found at {NMNIST_DEV} (../shared/data is the development copy; "
                    "a user's clone has none)")
    from adaspike.studies.events import logistic_regression_run

    result = logistic_regression_run("nmnist", str(NMNIST_DEV), limit=150, c_values=(0.01,))
    assert result["train_samples"] + result["val_samples"] == 150 and result["test_samples"] == 150
    assert 0.5 < result["test_accuracy"] < 1.0  # far above chance, far from perfect on 128 recordings
