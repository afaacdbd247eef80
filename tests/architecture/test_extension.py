"""A new neuron model is two pieces (a parameter class and a registered layer) and a new retime map is one
registered function: each then reaches make_neuron, the model zoo, the CLI's choices, the fused kernels,
retime and (when NIR has a primitive for its per-step form) NIR export, with no list to edit elsewhere."""
from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch

from adaspike.core import ContinuousSSM, scan
from adaspike.layers import NEURONS, NeuronLayer, make_neuron, register_neuron, registered_neurons
from adaspike.models import build_model
from adaspike.retime import MAPS, register_map, retime


@dataclass(eq=False)
class ResonatorParams:
    """A damped resonator (2 states): dx/dt = [[−1/τ, −ω], [ω, −1/τ]] x + [r, 0] I, spikes on x₀."""

    tau: float = 20e-3
    omega: float = 150.0
    threshold: float = 1.0
    r: float = 1.0

    def continuous(self) -> ContinuousSSM:
        t = lambda rows: torch.tensor(rows, dtype=torch.float64)
        return ContinuousSSM(A=t([[-1 / self.tau, -self.omega], [self.omega, -1 / self.tau]]), Bc=t([self.r, 0.0]),
                             kick_reset=t([-1.0, 0.0]), kick_spike=t([0.0, 0.0]), threshold=t(self.threshold))

    def discretise(self, dt: float, method: str = "zoh"):
        return self.continuous().discretise(dt, method)


@pytest.fixture
def resonator():
    @register_neuron("test-resonator")
    class Resonator(NeuronLayer):
        def __init__(self, shape=(), *, tau: float = 20e-3, omega: float = 150.0, r: float = 1.0, **kw):
            super().__init__(shape, **kw)
            self.params = ResonatorParams(tau, omega, 1.0, r)

        def ssm(self, dt=None):
            ssm = self.params.discretise(dt or self.dt, self.method)
            shape = (*self.shape, 2)
            return type(ssm)(H=ssm.H.expand(*self.shape, 2, 2), B=ssm.B.expand(shape),
                             kick_reset=ssm.kick_reset.expand(shape), kick_spike=ssm.kick_spike.expand(shape),
                             threshold=self.threshold().to(torch.float64), dt=ssm.dt, method=ssm.method)

    yield Resonator
    NEURONS.pop("test-resonator")


def test_a_registered_neuron_reaches_the_layers_models_and_cli(resonator):
    assert "test-resonator" in registered_neurons()
    assert isinstance(make_neuron("test-resonator", 6, dt=1e-3), resonator)
    model = build_model("snn", input_shape=[5], hidden=[6], classes=3, neuron="test-resonator", dt=1e-3)
    assert model(torch.rand(20, 2, 5) * 3).shape[-1] == 3
    from adaspike.cli import build_parser

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    (neuron_option,) = [a for a in train._actions if "--neuron" in a.option_strings]
    assert "test-resonator" in neuron_option.choices


def test_a_registered_neuron_runs_on_the_fused_kernels(resonator):
    pytest.importorskip("numba")
    layer = make_neuron("test-resonator", 7, dt=1e-3, r=200.0)
    current = torch.rand(40, 3, 7, dtype=torch.float64) * 4
    ssm = layer.ssm()
    fast = scan(current, ssm, backend="numba")
    ref = scan(current, ssm, backend="reference")
    assert torch.equal(fast.spikes, ref.spikes) and fast.spikes.sum() > 0


def test_a_registered_neuron_retimes_exactly_under_zoh(resonator):
    layer = make_neuron("test-resonator", 4, dt=1e-3)
    retimed = retime(torch.nn.Sequential(layer), ratio=2.0, method="zoh", input_scale=1.0)[0]
    direct = layer.ssm(2e-3)
    torch.testing.assert_close(retimed.ssm().H, direct.H)
    torch.testing.assert_close(retimed.ssm().B, direct.B)


def test_a_registered_map_reaches_retime():
    @register_map("test-identity", level_inputs=False)
    def identity_map(H, B, rho, name):
        return H.clone(), B.clone()

    try:
        layer = make_neuron("lif", 4, dt=1e-3)
        retimed = retime(torch.nn.Sequential(layer), ratio=2.0, method="test-identity")[0]
        torch.testing.assert_close(retimed.ssm().H, layer.ssm().H.to(torch.float64))
        assert math.isclose(retimed.dt, 2e-3)
    finally:
        MAPS.pop("test-identity")


def test_a_registered_neuron_reaches_nir_when_nir_can_hold_it(resonator):
    from adaspike.core import LIFParams
    from adaspike.interop.export import neuron_node

    @register_neuron("test-leaky")
    class Leaky(NeuronLayer):
        """A LIF written as a new model: NIR gets its per-step form back as a LIF node."""

        def ssm(self, dt=None):
            return LIFParams(tau=30e-3, threshold=self.threshold()).discretise(dt or self.dt, self.method)

    try:
        node = neuron_node(make_neuron("test-leaky", 3, dt=1e-3), (3,))
        assert type(node).__name__ == "LIF" and node.metadata["adaspike_layer"] == "Leaky"
        torch.testing.assert_close(torch.as_tensor(node.tau, dtype=torch.float64), torch.full((3,), 30e-3,
                                   dtype=torch.float64), rtol=1e-5, atol=0)
        with pytest.raises(ValueError, match="Resonator has no NIR primitive"):
            neuron_node(make_neuron("test-resonator", 3, dt=1e-3), (3,))
    finally:
        NEURONS.pop("test-leaky")
