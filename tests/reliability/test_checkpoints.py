"""Bad checkpoints (real safetensors files with hostile metadata or tensors): each refused with a CheckpointError
that names the problem, through the API and through every CLI command that reads checkpoints."""
from __future__ import annotations

import json

import pytest
import torch

from adaspike.cli import main
from adaspike.train import CheckpointError, load_model, read_checkpoint

from conftest import SPEC, model_tensors, tiny_model, write_raw_checkpoint


def _spec(**kwargs):
    return {"name": "snn", "kwargs": {**SPEC["kwargs"], **kwargs}}


def _meta(spec, **extra):
    return json.dumps({"format": "adaspike-checkpoint-1", "model": spec, **extra})


# (case id, metadata JSON text, tensor edit, message fragment)
def _nested(depth):
    return "[" * depth + "]" * depth


def _poison(key, value):
    def edit(tensors):
        tensors[f"model.{key}"] = value(tensors[f"model.{key}"])
        return tensors
    return edit


W = "hidden.0.synapse.module.weight"
TAU = "hidden.0.neuron.tau_u.raw"
META_CASES = [
    ("metadata-list", "[1, 2, 3]", None, "must be a JSON object"),
    ("metadata-string", '"snn"', None, "must be a JSON object"),
    ("metadata-number", "42", None, "must be a JSON object"),
    ("metadata-not-json", "{not json", None, "corrupted metadata"),
    ("deep-nesting-list", _nested(50_000), None, "nested too deeply"),
    ("deep-nesting-in-kwargs", '{"model": {"name": "snn", "kwargs": {"x": ' + _nested(50_000) + "}}}", None,
     "nested too deeply"),
    ("model-missing", json.dumps({"format": "adaspike-checkpoint-1"}), None, "no model description"),
    ("model-list", _meta(["snn"]), None, "string 'name'"),
    ("model-name-number", _meta({"name": 3}), None, "string 'name'"),
    ("model-name-unknown", _meta({"name": "no-such-model", "kwargs": {}}), None, "unknown model"),
    ("kwargs-string", _meta({"name": "snn", "kwargs": "hidden=8"}), None, "'model.kwargs' must be an object"),
    ("kwargs-list", _meta({"name": "snn", "kwargs": [1, 2]}), None, "'model.kwargs' must be an object"),
    ("kwargs-unknown-key", _meta(_spec(flux_capacitor=1)), None, "flux_capacitor"),
    ("hidden-string", _meta(_spec(hidden="16")), None, "does not"),
    ("hidden-negative", _meta(_spec(hidden=[-5])), None, "does not"),
    ("hidden-zero", _meta(_spec(hidden=[0])), None, "does not"),
    ("hidden-huge", _meta(_spec(hidden=[300000])), None, "hidden[0] = 300000"),
    ("classes-huge", _meta(_spec(classes=10**9)), None, "classes = 1000000000"),
    ("input-shape-huge", _meta(_spec(input_shape=[10**7, 10**7])), None, "input_shape[0]"),
    ("dt-string-nonsense", _meta(_spec(dt="4 parsecs")), None, "4 parsecs"),
    ("dt-negative", _meta(_spec(dt=-1)), None, "dt"),
    ("classes-mismatch", _meta(_spec(classes=5)), None, "does not match the model"),
    ("weights-bool", _meta(SPEC), _poison(W, lambda t: t > 0), "dtype torch.bool"),
    ("weights-int64", _meta(SPEC), _poison(W, lambda t: (t * 100).to(torch.int64)), "dtype torch.int64"),
    ("tau-plus-inf", _meta(SPEC), _poison(TAU, lambda t: torch.full_like(t, float("inf"))), "NaN or Inf"),
    ("weight-nan", _meta(SPEC), _poison(W, lambda t: torch.full_like(t, float("nan"))), "NaN or Inf"),
    ("weight-wrong-shape", _meta(SPEC), _poison(W, lambda t: torch.zeros(3, 3)), "does not match the model"),
    ("tensor-missing", _meta(SPEC), lambda ts: {k: v for k, v in ts.items() if k != f"model.{W}"},
     "does not match the model"),
]


def _write(tmp_path, meta_json, edit):
    tensors = model_tensors()
    if edit is not None:
        tensors = edit(tensors)
    return write_raw_checkpoint(tmp_path / "bad.safetensors", tensors, meta_json)


@pytest.mark.parametrize("case,meta_json,edit,fragment", META_CASES, ids=[c[0] for c in META_CASES])
def test_bad_checkpoint_is_refused_by_load_model(tmp_path, case, meta_json, edit, fragment):
    path = _write(tmp_path, meta_json, edit)
    with pytest.raises(CheckpointError) as info:
        load_model(path)
    assert fragment in str(info.value)
    assert str(path) in str(info.value) or "checkpoint" in str(info.value)


@pytest.mark.parametrize("command", ["eval", "retime", "export-nir"])
@pytest.mark.parametrize("case,meta_json,edit,fragment", META_CASES, ids=[c[0] for c in META_CASES])
def test_bad_checkpoint_cli_one_line(tmp_path, capsys, command, case, meta_json, edit, fragment):
    """Every command that reads a checkpoint answers with one line and exit 1, never a traceback."""
    path = _write(tmp_path, meta_json, edit)
    argv = {"eval": ["eval", str(path), "--dataset", "event-digits", "--limit", "8", "--no-progress"],
            "retime": ["retime", str(path), "--dt", "2ms", "-o", str(tmp_path / "r.safetensors")],
            "export-nir": ["export-nir", str(path), "-o", str(tmp_path / "x.nir")]}[command]
    try:
        rc = main(argv)
    except SystemExit as exit_:  # argparse usage errors: also one line
        rc = exit_.code
    err = capsys.readouterr().err.strip()
    assert rc == 1
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert fragment in err


def test_info_shows_metadata_types_without_traceback(tmp_path, capsys):
    path = write_raw_checkpoint(tmp_path / "bad.safetensors", model_tensors(), "[1, 2]")
    assert main(["info", str(path)]) == 1
    assert "must be a JSON object" in capsys.readouterr().err


def test_checkpoint_folder_is_named_a_folder(tmp_path):
    with pytest.raises(CheckpointError, match="is a folder"):
        read_checkpoint(tmp_path)


def test_good_checkpoint_still_loads(good_checkpoint):
    model = load_model(good_checkpoint)
    reference = tiny_model()
    for (k, a), b in zip(model.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(a, b), k


def test_size_bound_allows_real_dimensions(tmp_path):
    """The size bound is relative to the file: a real wide model (width above the fixed bound) still loads."""
    from adaspike.models import build_model
    from adaspike.train import save_checkpoint

    wide = build_model("snn", input_shape=[4], classes=2, hidden=[20000], recurrent=False)
    path = save_checkpoint(tmp_path / "wide.safetensors", wide)
    assert load_model(path).hidden[0].synapse.module.weight.shape == (20000, 4)
