"""Cross-library NIR tests against real peers (optional test dependencies; skipped when absent).

adaspike → Norse / snnTorch: our export (true τ in seconds) runs in the peer with the same spikes when both
sides integrate the ODE the same way (Euler, reset to zero, strict threshold) at the same dt.
snnTorch / SpikingJelly → adaspike: the peer's own export imports under its convention and reproduces the
peer's simulation step for step.
"""
from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

from adaspike.interop import export_nir, import_nir, write_nir, read_nir
from adaspike.layers import LIF, SpikingLayer

T, B, N_IN = 40, 4, 12


@pytest.fixture(autouse=True)
def _quiet():
    torch.manual_seed(0)
    logging.getLogger().setLevel(logging.ERROR)


def _inputs() -> torch.Tensor:
    return (torch.rand(T, B, N_IN, generator=torch.Generator().manual_seed(1)) < 0.4).float()


def _adaspike_net(dt: float) -> nn.Sequential:
    """Two LIF layers, Euler, reset to zero, strict threshold; weights scaled so both layers fire."""
    kw = dict(dt=dt, method="euler", reset="zero", strict=True)
    net = nn.Sequential(SpikingLayer(nn.Linear(N_IN, 16), LIF(16, tau=5e-3, **kw)),
                        SpikingLayer(nn.Linear(16, 6), LIF(6, tau=8e-3, **kw)))
    with torch.no_grad():
        net[0].synapse.module.weight.mul_(8e-3 / dt)
        net[1].synapse.module.weight.mul_(24e-3 / dt)
    return net


def _run_stepwise(module, x: torch.Tensor) -> torch.Tensor:
    state, outs = None, []
    for t in range(x.shape[0]):
        out = module(x[t], state)
        y, state = out if isinstance(out, tuple) else (out, None)
        outs.append(y)
    return torch.stack(outs)


def _assert_spikes_match(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    assert theirs.shape == ours.shape
    assert ours.sum() > 0, "test network is silent; the comparison would prove nothing"
    mismatch = (ours != theirs).float().mean().item()
    assert mismatch <= 1e-3, f"{mismatch:.2%} of output spikes differ"


def test_adaspike_export_runs_in_norse(tmp_path):
    norse = pytest.importorskip("norse.torch")
    dt, x = 1e-3, _inputs()
    net = _adaspike_net(dt)
    write_nir(tmp_path / "m.nir", export_nir(net, (N_IN,)))
    peer = norse.from_nir(read_nir(tmp_path / "m.nir"), dt=dt)
    with torch.no_grad():
        _assert_spikes_match(net(x), _run_stepwise(peer, x))


def test_adaspike_export_runs_in_snntorch(tmp_path):
    pytest.importorskip("snntorch")
    from snntorch.import_nir import import_from_nir
    dt, x = 1e-4, _inputs()  # snnTorch's importer assumes its exporter's step, 0.1 ms
    net = _adaspike_net(dt)
    write_nir(tmp_path / "m.nir", export_nir(net, (N_IN,)))
    peer = import_from_nir(read_nir(tmp_path / "m.nir"))
    with torch.no_grad():
        _assert_spikes_match(net(x), _run_stepwise(peer, x))


def _snntorch_net(snn, reset: str, synaptic: bool) -> nn.Sequential:
    vec = lambda n, v: torch.full((n,), v)
    kw = lambda n: dict(threshold=torch.ones(n), init_hidden=True, reset_mechanism=reset)
    middle = (snn.Synaptic(alpha=vec(8, 0.8), beta=vec(8, 0.85), **kw(8)) if synaptic
              else snn.Leaky(beta=vec(8, 0.85), **kw(8)))
    net = nn.Sequential(nn.Linear(N_IN, 16), snn.Leaky(beta=vec(16, 0.9), **kw(16)),
                        nn.Linear(16, 8), middle,
                        nn.Linear(8, 6), snn.Leaky(beta=vec(6, 0.95), output=True, **kw(6)))
    with torch.no_grad():
        for layer in net:
            if isinstance(layer, nn.Linear):
                layer.weight.mul_(2.0)
                layer.bias.add_(0.05)
    return net


@pytest.mark.parametrize("reset,synaptic", [("zero", False), ("subtract", True), ("subtract", False)])
def test_snntorch_export_imports_and_matches(tmp_path, reset, synaptic):
    snn = pytest.importorskip("snntorch")
    from snntorch.export_nir import export_to_nir
    import snntorch.utils
    x = _inputs()
    net = _snntorch_net(snn, reset, synaptic)
    graph = export_to_nir(net, torch.zeros(1, N_IN), ignore_dims=[0])
    write_nir(tmp_path / "snn.nir", graph)
    ours = import_nir(tmp_path / "snn.nir", dt="1ms", convention="snntorch", reset=reset)
    snntorch.utils.reset(net)
    with torch.no_grad():
        theirs = torch.stack([net(x[t])[0] for t in range(T)])
        _assert_spikes_match(ours(x), theirs)


def test_spikingjelly_export_imports_and_matches(tmp_path):
    pytest.importorskip("spikingjelly.activation_based.nir_exchange")
    from spikingjelly.activation_based import functional, layer, neuron
    from spikingjelly.activation_based.nir_exchange import export_to_nir
    x = _inputs()
    net = nn.Sequential(layer.Linear(N_IN, 16, step_mode="m"), neuron.LIFNode(tau=2.0, step_mode="m"),
                        layer.Linear(16, 8, step_mode="m"), neuron.IFNode(step_mode="m"),
                        layer.Linear(8, 6, step_mode="m"), neuron.LIFNode(tau=4.0, decay_input=False, step_mode="m"))
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Linear):
                m.weight.mul_(2.0)
    graph = export_to_nir(net, x[:2, :1], dt=1e-4)
    write_nir(tmp_path / "sj.nir", graph)
    functional.reset_net(net)
    ours = import_nir(tmp_path / "sj.nir", dt="2ms", convention="spikingjelly")
    with torch.no_grad():
        _assert_spikes_match(ours(x), net(x))


def test_the_convention_matters(tmp_path):
    """The snnTorch file read as true seconds (adaspike convention) is a different network: spikes differ."""
    snn = pytest.importorskip("snntorch")
    from snntorch.export_nir import export_to_nir
    graph = export_to_nir(_snntorch_net(snn, "zero", False), torch.zeros(1, N_IN), ignore_dims=[0])
    x = _inputs()
    with torch.no_grad():
        right = import_nir(graph, dt="1ms", convention="snntorch", reset="zero")(x)
        wrong = import_nir(graph, dt="1ms", convention="adaspike")(x)
    assert (right != wrong).float().mean() > 0.01
