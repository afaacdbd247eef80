"""ASNN properties (hybrid-coding spec §9.1, 9.4): tied = standard LIF exactly, inert λ_0, readout, surrogate."""
import copy

import pytest
import torch
from torch import nn

from adaspike.core import BinarySpike, Sigmoid, lif_discrete, scan
from adaspike.layers.adaptive import PerStepLIF, StepWeightedReadout
from adaspike.models import build_model


def hand_lif(current, lam, gain, threshold=1.0):
    """u_t = λ v_{t−1} + a I_t;  o_t = [u_t > θ];  v_t = u_t − θ o_t (the spec's equations, literally)."""
    v = torch.zeros_like(current[0])
    out = []
    for I in current:
        u = lam * v + gain * I
        o = (u > threshold).to(u.dtype)
        v = u - threshold * o
        out.append(o)
    return torch.stack(out)


class HandLIF(nn.Module):
    def __init__(self, lam, gain):
        super().__init__()
        self.lam, self.gain = lam, gain

    def forward(self, x):
        return hand_lif(x, self.lam, self.gain)


@pytest.mark.parametrize("granularity", ["layer", "channel"])
def test_tied_layer_is_the_standard_soft_reset_lif(granularity):
    torch.manual_seed(0)
    layer = PerStepLIF(5, channels=3, granularity=granularity, tied=True)
    with torch.no_grad():
        layer.leak.raw.fill_(0.7)
        layer.gain.raw.fill_(0.9)
    x = torch.randn(5, 4, 3, 2, 2) * 2
    expected = hand_lif(x, 0.7, 0.9)
    assert torch.equal(layer(x), expected)
    standard = scan(x, lif_discrete(0.7, 0.9), spike_fn=BinarySpike(Sigmoid(4.0), strict=True), backend="reference")
    assert torch.equal(layer(x), standard.spikes)


def test_fresh_layer_is_a_tau2_decay_input_lif():
    x = torch.randn(6, 8, 10) * 3
    assert torch.equal(PerStepLIF(6)(x), hand_lif(x, 0.5, 0.5))
    standard = scan(x, lif_discrete(0.5), spike_fn=BinarySpike(Sigmoid(4.0), strict=True), backend="reference")
    assert torch.equal(PerStepLIF(6)(x), standard.spikes)   # α = 0.5 ⇒ gain 1 − α = 0.5


def test_untied_parameters_set_equal_match_tied():
    x = torch.randn(4, 3, 7)
    untied = PerStepLIF(4)
    with torch.no_grad():
        untied.leak.raw.fill_(0.3)
    tied = PerStepLIF(4, tied=True)
    with torch.no_grad():
        tied.leak.raw.fill_(0.3)
    assert torch.equal(untied(x), tied(x))


def test_per_step_parameters_act_at_their_step():
    layer = PerStepLIF(3)
    with torch.no_grad():
        layer.gain.raw.copy_(torch.tensor([2.0, 0.0, 2.0]))
    x = torch.ones(3, 1, 1)
    assert layer(x).flatten().tolist() == [1.0, 0.0, 1.0]   # u = 2, then 0.5·1 + 0 ≤ 1, then 0.5·0.5 + 2


@pytest.mark.parametrize("model", ["spiking-resnet", "spikformer", "lenet"])
def test_tied_network_equals_network_of_standard_lif(model):
    torch.manual_seed(1)
    net = build_model(model, T=3, encoding="direct", adaptive="off", **_size(model))
    net.eval()
    reference = copy.deepcopy(net)
    for name, module in list(reference.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, PerStepLIF):
                threshold = float(child.threshold())
                assert threshold == 1.0 or model == "spikformer"
                lam, gain = (v.detach() for v in child.per_step())
                setattr(module, child_name, _HandWithThreshold(float(lam[0]), float(gain[0]), threshold))
    x = torch.rand(2, 1, 16, 16)
    assert torch.equal(net(x), reference(x))


class _HandWithThreshold(nn.Module):
    def __init__(self, lam, gain, threshold):
        super().__init__()
        self.lam, self.gain, self.threshold = lam, gain, threshold

    def forward(self, x):
        return hand_lif(x, self.lam, self.gain, self.threshold)


def _size(model):
    """Small builder arguments for 16×16 inputs."""
    if model == "spikformer":
        return {"dim": 8, "heads": 2}
    return {"width": 4, **({"input_size": (16, 16)} if model == "lenet" else {})}


@pytest.mark.parametrize("model", ["spiking-resnet", "spikformer", "lenet"])
@pytest.mark.parametrize("encoding", ["direct", "hybrid"])
def test_step0_leak_gets_exactly_zero_gradient(model, encoding):
    torch.manual_seed(2)
    net = build_model(model, T=4, encoding=encoding, adaptive="on", **_size(model))
    nn.functional.cross_entropy(net(torch.rand(3, 1, 16, 16)), torch.tensor([0, 1, 2])).backward()
    layers = [m for m in net.modules() if isinstance(m, PerStepLIF)]
    assert layers
    for layer in layers:
        assert torch.equal(layer.leak.raw.grad[0], torch.zeros_like(layer.leak.raw.grad[0]))
    assert any(float(layer.leak.raw.grad[1:].abs().sum()) > 0 for layer in layers)


def test_constant_step_weight_scales_logits():
    torch.manual_seed(3)
    head = StepWeightedReadout(4, 6, 3)
    f = torch.rand(4, 2, 6)
    base = head(f)
    with torch.no_grad():
        head.step_weight.fill_(2.5)
    assert torch.allclose(head(f), 2.5 * base, atol=1e-6)


def test_step_weight_gradient_is_mean_of_step_logit_products():
    torch.manual_seed(4)
    head = StepWeightedReadout(5, 6, 3)
    f = torch.rand(5, 2, 6)
    y = head(f)
    upstream = torch.randn_like(y)
    (y * upstream).sum().backward()
    z = head.linear(f).detach()
    expected = (upstream[None] * z).sum(dim=(1, 2)) / 5
    assert torch.allclose(head.step_weight.grad, expected, atol=1e-6)


def test_adaptive_off_fixes_step_weights():
    net = build_model("lenet", T=3, adaptive="off", width=4, input_size=(16, 16))
    assert not any("step_weight" in name for name, _ in net.named_parameters())
    on = build_model("lenet", T=3, adaptive="on", width=4, input_size=(16, 16))
    assert any("step_weight" in name for name, _ in on.named_parameters())


def test_spike_is_strict_with_sigmoid4_surrogate():
    layer = PerStepLIF(1)
    with torch.no_grad():
        layer.gain.raw.fill_(1.0)
    x = torch.tensor([[[1.0, 1.5, 0.2]]], requires_grad=True)
    out = layer(x)
    assert out.flatten().tolist() == [0.0, 1.0, 0.0]       # u = 1 does not fire
    out.sum().backward()
    u = torch.tensor([1.0, 1.5, 0.2])
    sig = torch.sigmoid(4 * (u - 1))
    assert torch.allclose(x.grad.flatten(), 4 * sig * (1 - sig))


def test_sigmoid_constraint_keeps_values_in_unit_interval():
    layer = PerStepLIF(3, constrain="sigmoid")
    with torch.no_grad():
        layer.leak.raw.fill_(50.0)
    lam, gain = layer.per_step()
    assert bool((lam <= 1).all()) and torch.allclose(gain, torch.full((3,), 0.5))


def test_fast_backend_matches_reference_for_time_varying_neurons():
    torch.manual_seed(5)
    layer = PerStepLIF(6, channels=4, granularity="channel")
    with torch.no_grad():
        layer.leak.raw.uniform_(0.2, 0.9)
        layer.gain.raw.uniform_(0.5, 1.5)
    x = (torch.randn(6, 3, 4, 5) * 2).requires_grad_()
    grads = []
    for backend in ("reference", "auto"):
        layer.backend = backend
        layer.zero_grad()
        x.grad = None
        out = layer(x)
        (out * torch.linspace(0, 1, out.numel()).reshape(out.shape)).sum().backward()
        grads.append((out.detach(), x.grad.clone(), layer.leak.raw.grad.clone()))
    assert torch.equal(grads[0][0], grads[1][0])
    for a, b in zip(grads[0][1:], grads[1][1:]):
        assert torch.allclose(a, b, atol=1e-5)


def test_wrong_number_of_steps_raises():
    with pytest.raises(ValueError, match="T = 4"):
        PerStepLIF(4)(torch.zeros(3, 1, 2))
    with pytest.raises(ValueError, match="channels"):
        PerStepLIF(4, granularity="channel")
