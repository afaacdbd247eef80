"""NIR export → file → import reproduces the model; what the file says is the true ODE in seconds."""
from __future__ import annotations

import math

import nir
import numpy as np
import pytest
import torch
from torch import nn

from adaspike.interop import (CONVENTIONS, SumPool2d, export_nir, get_convention, import_nir, leaky_step,
                              read_nir, write_nir)
from adaspike.layers import (IF, LIF, CubaLIF, LeakyIntegrator, RecurrentSpikingLayer, SpikingLayer, TimeFolded,
                             TimeReduce)

DT = 1e-3


def _boost(model: nn.Module, gain: float = 12.0, bias: float = 0.5) -> nn.Module:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                m.weight.mul_(gain)
                if m.bias is not None:
                    m.bias.add_(bias)
    return model


def _spikes(shape, T=30, B=3, p=0.3, seed=0):
    return (torch.rand(T, B, *shape, generator=torch.Generator().manual_seed(seed)) < p).float()


def _roundtrip(model, input_shape, tmp_path, **kw):
    path = write_nir(tmp_path / "model.nir", export_nir(model, input_shape))
    return import_nir(path, dt=DT, **kw)


def _check_same(model, imported, x):
    with torch.no_grad():
        y, z = model(x), imported(x)
    assert y.shape == z.shape
    assert float(y.abs().sum()) > 0, "silent model: the comparison would prove nothing"
    torch.testing.assert_close(z, y, rtol=1e-4, atol=1e-5)


MODELS = {
    "lif": lambda: nn.Sequential(SpikingLayer(nn.Linear(8, 12), LIF(12, tau=7e-3, dt=DT)),
                                 SpikingLayer(nn.Linear(12, 5), LIF(5, tau=15e-3, dt=DT, reset="zero"))),
    "cubalif": lambda: nn.Sequential(SpikingLayer(nn.Linear(8, 12), CubaLIF(12, tau_syn=3e-3, dt=DT)),
                                     TimeFolded(nn.Linear(12, 5)), LeakyIntegrator(5, dt=DT)),
    "if": lambda: nn.Sequential(SpikingLayer(nn.Linear(8, 12), IF(12, dt=DT, threshold=2.0)),
                                SpikingLayer(nn.Linear(12, 5, bias=False), IF(5, dt=DT, gain=500.0))),
    "recurrent": lambda: nn.Sequential(RecurrentSpikingLayer(8, 12, LIF(12, tau=10e-3, dt=DT, method="euler")),
                                       TimeFolded(nn.Linear(12, 4)), LeakyIntegrator(4, dt=DT), TimeReduce("mean")),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_roundtrip_reproduces_outputs(name, tmp_path):
    torch.manual_seed(0)
    model = _boost(MODELS[name]())
    _check_same(model, _roundtrip(model, (8,), tmp_path), _spikes((8,)))


def test_conv_roundtrip(tmp_path):
    torch.manual_seed(0)
    model = _boost(nn.Sequential(
        SpikingLayer(nn.Conv2d(2, 4, 3, padding=1), LIF((4, 8, 8), tau=5e-3, dt=DT)),
        TimeFolded(nn.AvgPool2d(2)), TimeFolded(SumPool2d(2)), TimeFolded(nn.Flatten()),
        SpikingLayer(nn.Linear(16, 6), CubaLIF(6, dt=DT, reset="zero")), TimeReduce("sum")))
    _check_same(model, _roundtrip(model, (2, 8, 8), tmp_path), _spikes((2, 8, 8)))


def test_affine_bias_survives(tmp_path):
    torch.manual_seed(0)
    layer = nn.Linear(6, 4)
    with torch.no_grad():
        layer.bias.copy_(torch.tensor([0.5, -1.0, 2.0, 3.5]))
    model = nn.Sequential(TimeFolded(layer), LeakyIntegrator(4, dt=DT))
    imported = _roundtrip(model, (6,), tmp_path)
    linear = [m for m in imported.modules() if isinstance(m, nn.Linear)]
    assert len(linear) == 1
    torch.testing.assert_close(linear[0].bias.detach(), layer.bias.detach())
    torch.testing.assert_close(linear[0].weight.detach(), layer.weight.detach())


def test_file_holds_true_time_constants_and_hints(tmp_path):
    model = nn.Sequential(SpikingLayer(nn.Linear(3, 2), LIF(2, tau=12e-3, r=2.0, dt=0.5e-3, method="bilinear")),
                          SpikingLayer(nn.Linear(2, 2), CubaLIF(2, tau_syn=4e-3, tau_mem=30e-3, dt=0.5e-3)))
    graph = read_nir(write_nir(tmp_path / "m.nir", export_nir(model, (3,))))
    lif = next(n for n in graph.nodes.values() if isinstance(n, nir.LIF))
    cuba = next(n for n in graph.nodes.values() if isinstance(n, nir.CubaLIF))
    np.testing.assert_allclose(lif.tau, 12e-3, rtol=1e-5)
    np.testing.assert_allclose(lif.r, 2.0)
    np.testing.assert_allclose(cuba.tau_syn, 4e-3, rtol=1e-5)
    np.testing.assert_allclose(cuba.tau_mem, 30e-3, rtol=1e-5)
    meta = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in lif.metadata.items()}
    assert meta["dt"] == pytest.approx(0.5e-3) and meta["discretisation"] == "bilinear"
    assert meta["reset"] == "subtract" and meta["input_convention"] == "step_current"


def test_import_requires_dt(tmp_path):
    model = nn.Sequential(SpikingLayer(nn.Linear(3, 2), LIF(2, dt=DT)))
    graph = export_nir(model, (3,))
    assert import_nir(graph, dt=None).nir_import["dt"] == DT  # an adaspike file records its step
    graph.metadata.pop("source_dt")
    for node in graph.nodes.values():
        (node.metadata or {}).pop("dt", None)
    with pytest.raises(ValueError, match="dt"):
        import_nir(graph, dt=None)
    with pytest.raises(ValueError, match="convention"):
        import_nir(graph, dt=DT, convention="brian")


def test_unsupported_module_is_named():
    model = nn.Sequential(TimeFolded(nn.BatchNorm1d(3)))
    with pytest.raises(ValueError, match="BatchNorm"):
        export_nir(model, (3,))


def test_imported_model_is_the_ode_at_any_dt(tmp_path):
    """The file holds the ODE: re-discretised alone at dt/2 (adapt=False), it equals retiming the dt import to
    dt/2 with no input scaling (ZOH is exact)."""
    retime = pytest.importorskip("adaspike.retime", reason="adaspike.retime not available").retime
    torch.manual_seed(0)
    model = _boost(nn.Sequential(SpikingLayer(nn.Linear(8, 10), LIF(10, tau=8e-3, dt=DT)),
                                 TimeFolded(nn.Linear(10, 3)), LeakyIntegrator(3, tau=20e-3, dt=DT)), gain=1.5)
    path = write_nir(tmp_path / "m.nir", export_nir(model, (8,)))
    fine = import_nir(path, dt=DT / 2, adapt=False)
    retimed = retime(import_nir(path, dt=DT), dt=DT / 2, method="zoh", input_scale=1.0, readout="keep",
                     spike_rule="steps")
    x = torch.rand(40, 2, 8, generator=torch.Generator().manual_seed(3)) * 2  # held currents at the fine step
    with torch.no_grad():
        a, b = fine(x), retimed(x)
    assert float(a.abs().sum()) > 0
    torch.testing.assert_close(b, a, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("name", ["snntorch", "spikingjelly", "sinabs"])
def test_peer_conventions_reproduce_their_step(name):
    """A LIF imported under a peer convention has the per-step decay and gain that peer simulates."""
    conv = get_convention(name)
    tau = np.array([2e-3, 5e-3], dtype=np.float32) if conv.file_dt < 1 else np.array([3.0, 10.0], np.float32)
    r = np.array([1.0, 4.0], dtype=np.float32)
    zeros = np.zeros(2, np.float32)
    node = nir.LIF(tau=tau, r=r, v_leak=zeros, v_threshold=np.ones(2, np.float32), v_reset=zeros)
    graph = nir.NIRGraph(nodes={"input": nir.Input(np.array([2])), "lif": node, "output": nir.Output(np.array([2]))},
                         edges=[("input", "lif"), ("lif", "output")], metadata={})
    model = import_nir(graph, dt="4ms", convention=name, reset="zero" if conv.reset is None else None)
    layer = model.layers["lif"]
    ssm = layer.ssm()
    alpha = ssm.H[..., 0, 0].detach().numpy()
    # a per-neuron R that the layer holds as one number arrives as the node's input scale
    gain = ssm.B[..., 0].detach().numpy() * getattr(model, "scale_lif", torch.ones(2)).numpy()
    expected_alpha = 1 - conv.file_dt / tau if conv.method == "euler" else np.exp(-conv.file_dt / tau)
    expected_gain = r * conv.file_dt / tau if conv.method == "euler" else r * (1 - np.exp(-conv.file_dt / tau))
    np.testing.assert_allclose(alpha, expected_alpha, rtol=1e-5)
    np.testing.assert_allclose(gain, expected_gain, rtol=1e-4)
    assert layer.dt == pytest.approx(4e-3)


def test_conventions_table_is_complete():
    assert set(CONVENTIONS) == {"adaspike", "snntorch", "spikingjelly", "sinabs", "sinabs-raw", "norse", "norse-1.1",
                                "rockpool"}
    a, b = leaky_step(np.array(0.01), np.array(1.0), 1e-3, "zoh")
    assert math.isclose(float(a), math.exp(-0.1)) and math.isclose(float(b), 1 - math.exp(-0.1))


def test_refractory_spike_rule_survives_the_file(tmp_path):
    torch.manual_seed(0)
    model = _boost(nn.Sequential(SpikingLayer(nn.Linear(8, 12), LIF(12, tau=7e-3, dt=DT, refractory=3e-3)),
                                 SpikingLayer(nn.Linear(12, 5), LIF(5, tau=15e-3, dt=DT))))
    graph = read_nir(write_nir(tmp_path / "m.nir", export_nir(model, (8,))))
    metas = [node.metadata for node in graph.nodes.values() if isinstance(node, nir.LIF)]
    assert sorted(m.get("refractory", 0.0) for m in metas) == [0.0, pytest.approx(3e-3)]
    imported = import_nir(tmp_path / "m.nir", dt=DT)
    assert sorted((m.refractory or 0.0) for m in imported.modules() if isinstance(m, LIF)) == [0.0, 3e-3]
    _check_same(model, imported, _spikes((8,), T=40))
