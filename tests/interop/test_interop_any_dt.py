"""NIR at any step: an adaspike file imported at another dt is the model ``retime`` gives at that dt."""
from __future__ import annotations

import logging

import pytest
import torch

from adaspike.interop import export_nir, import_nir, read_nir, write_nir
from adaspike.interop.rebuild import imported_model
from adaspike.models import build_model
from adaspike.retime import retime
from adaspike.train import load_model, save_checkpoint


@pytest.fixture(scope="module")
def trained_like():
    """A recurrent LIF MLP with a LI readout at 4 ms, its drive raised so that its neurons fire."""
    torch.manual_seed(1)
    model = build_model("snn", input_shape=[2, 5, 5], classes=4, hidden=[24], neuron="lif", recurrent=True,
                        dt=4e-3)
    with torch.no_grad():
        model.hidden[0].synapse.module.weight.mul_(4)
    return model.eval()


def _counts(T: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, 6, 2, 5, 5, generator=g) < 0.15).float()


@pytest.mark.parametrize("dt", [1e-3, 2e-3, 8e-3])
def test_import_at_another_dt_equals_retime(trained_like, tmp_path, dt):
    path = write_nir(tmp_path / "m.nir", export_nir(trained_like, [2, 5, 5]))
    imported = import_nir(read_nir(path), dt=dt)
    reference = retime(trained_like, dt=dt)
    x = _counts(int(round(0.12 / dt)))
    with torch.no_grad():
        assert torch.equal(imported(x), reference(x))
    assert imported.nir_import["written_dt"] == pytest.approx(4e-3)


def test_an_adaspike_file_records_its_step_and_data(trained_like, tmp_path):
    graph = export_nir(trained_like, [2, 5, 5], data={"dataset": "event-digits", "options": {"pool": 7}})
    assert graph.metadata["source_dt"] == pytest.approx(4e-3)
    path = write_nir(tmp_path / "m.nir", graph)
    back = read_nir(path)
    assert "event-digits" in back.metadata["adaspike_data"]
    own = import_nir(back)  # no dt: the file's own, as trainable layers (τ through their parameterisation)
    frozen = import_nir(back, frozen=True)  # the writer's per-step neurons exactly
    x = _counts(30)
    with torch.no_grad():
        torch.testing.assert_close(own(x), trained_like(x), rtol=0, atol=1e-5)
        assert torch.equal(frozen(x), trained_like(x))


def test_adapt_false_rediscretises_the_neurons_alone(trained_like, tmp_path):
    path = write_nir(tmp_path / "m.nir", export_nir(trained_like, [2, 5, 5]))
    plain = import_nir(read_nir(path), dt=1e-3, adapt=False)
    assert getattr(plain, "retime_info", None) is None
    assert {round(m.dt, 9) for m in plain.modules() if hasattr(m, "dt")} == {1e-3}


def test_an_imported_and_moved_model_round_trips_through_a_checkpoint(trained_like, tmp_path):
    path = write_nir(tmp_path / "m.nir", export_nir(trained_like, [2, 5, 5]))
    model = imported_model(read_nir(path), dt=2e-3)
    assert model.config["name"] == "retimed"
    save_checkpoint(tmp_path / "m.safetensors", model, {"data": {"dt": 2e-3}})
    again = load_model(tmp_path / "m.safetensors")
    x = _counts(60)
    with torch.no_grad():
        assert torch.equal(again(x), model(x))


def test_a_peers_file_at_another_step_says_what_it_does(tmp_path, caplog):
    import nir
    import numpy as np

    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([3])),
                                "fc": nir.Linear(weight=np.eye(3, dtype=np.float32)),
                                "lif": nir.LIF(tau=np.full(3, 2e-3, np.float32), r=np.full(3, 20.0, np.float32),
                                               v_leak=np.zeros(3, np.float32), v_threshold=np.ones(3, np.float32),
                                               v_reset=np.zeros(3, np.float32)),
                                "output": nir.Output(output_type=np.array([3]))},
                         edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])
    with caplog.at_level(logging.INFO, logger="adaspike"):
        import_nir(graph, dt=1e-3, convention="snntorch", reset="subtract")
    assert any("per-step model written for dt" in r.message for r in caplog.records)
    with pytest.raises(ValueError, match="needs dt"):
        import_nir(graph, convention="snntorch", reset="subtract")
