"""Layers: reset modes, detach option, learnable ranges, explicit state, readouts, surrogates."""
import pytest
import torch

from adaspike.core import Arctan, FastSigmoid, Sigmoid, Triangle, get_surrogate
from adaspike.core.spikes import BurstSpike
from adaspike.layers import (IF, LIF, AdLIF, Bounded, CubaLIF, LeakyIntegrator, RecurrentSpikingLayer, SoftmaxSum,
                             SSMNeuron, TimeReduce, spiking_conv2d, spiking_linear)


@pytest.mark.parametrize("surrogate", [FastSigmoid(), Arctan(), Sigmoid(), Triangle()])
def test_surrogate_forward_is_step_and_grad_matches(surrogate):
    x = torch.linspace(-2, 2, 41, dtype=torch.float64, requires_grad=True)
    y = surrogate(x)
    assert torch.equal(y, (x >= 0).double())
    y.sum().backward()
    assert torch.allclose(x.grad, surrogate.grad(x.detach()))
    assert float(surrogate.grad(torch.tensor(0.0))) == max(float(surrogate.grad(torch.tensor(v))) for v in (0.0, 0.3, -0.3))


def test_surrogate_slope_changes_gradient():
    assert float(get_surrogate("arctan", 4.0).grad(torch.tensor(0.0))) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="surrogate"):
        get_surrogate("nope")


def test_strict_step():
    x = torch.zeros(3)
    assert FastSigmoid()(x, strict=True).sum() == 0
    assert FastSigmoid()(x).sum() == 3


def test_explicit_state_split_equals_whole():
    torch.manual_seed(0)
    layer = AdLIF(6, dt=4e-3)
    x = torch.rand(40, 2, 6) * 3
    whole = layer(x)
    first, state = layer(x[:25], return_state=True)
    second = layer(x[25:], state=state)
    assert torch.equal(torch.cat([first, second]), whole)


def test_detach_reset_changes_gradient_only():
    torch.manual_seed(0)
    x = (torch.rand(30, 2, 5) * 3).requires_grad_()
    grads = []
    outs = []
    for detach in (False, True):
        layer = LIF(5, dt=1e-3, tau=5e-3, detach_reset=detach)
        out = layer(x)
        outs.append(out)
        grads.append(torch.autograd.grad(out.sum(), x)[0])
    assert torch.equal(outs[0], outs[1])
    assert not torch.allclose(grads[0], grads[1])


def test_bounded_stays_in_range_under_any_raw():
    p = Bounded(0.02, 1e-3, 1.0, shape=(100,), log=True)
    with torch.no_grad():
        p.raw.copy_(torch.linspace(-1e3, 1e3, 100))
    v = p()
    assert bool((v >= 1e-3).all()) and bool((v <= 1.0).all())
    with pytest.raises(ValueError):
        Bounded(2.0, 0.0, 1.0)


def test_learnable_threshold_and_tau_receive_gradients():
    layer = LIF(4, dt=1e-3, learn_threshold=True, surrogate="sigmoid")
    x = torch.rand(20, 3, 4) * 30
    layer(x).sum().backward()
    assert layer.threshold.raw.grad is not None and layer.threshold.raw.grad.abs().sum() > 0
    assert layer.tau.raw.grad.abs().sum() > 0
    fixed = LIF(4, dt=1e-3, learn_tau=False)
    assert len(list(fixed.parameters())) == 0


def test_per_channel_conv_layer_and_shared_params():
    conv = spiking_conv2d(2, 4, 3, LIF((4, 1, 1), dt=1e-3, tau=2e-3))
    y = conv(torch.rand(5, 3, 2, 8, 8) * 5)
    assert y.shape == (5, 3, 4, 8, 8)
    shared = spiking_linear(3, 7, LIF((), dt=1e-3))
    assert shared(torch.rand(4, 2, 3)).shape == (4, 2, 7)


def test_recurrent_layer_uses_previous_spikes():
    torch.manual_seed(0)
    layer = RecurrentSpikingLayer(3, 5, LIF(5, dt=1e-3, tau=2e-3))
    x = torch.rand(20, 2, 3) * 10
    with torch.no_grad():
        layer.synapse.module.weight.fill_(1.0)
        layer.recurrent.fill_(-3.0)
    y = layer(x)
    assert y.sum() > 0
    with torch.no_grad():
        layer.recurrent.zero_()
    assert not torch.equal(layer(x), y)


def test_if_layer_counts_input():
    layer = IF((), dt=1e-3, threshold=1.0)
    x = torch.full((10, 1, 1), 0.25)
    assert layer(x).sum() == 2  # 10 × 0.25 = 2.5 → 2 spikes (reset by subtraction)


def test_burst_spikes_follow_floor():
    spike = BurstSpike(max_spikes=3)
    v = torch.tensor([0.5, 1.0, 2.7, 10.0])
    assert torch.equal(spike(v, torch.tensor(1.0)), torch.tensor([0.0, 1.0, 2.0, 3.0]))


def test_readouts():
    z = torch.randn(7, 3, 5)
    assert torch.equal(TimeReduce("last")(z), z[-1])
    assert torch.equal(TimeReduce("max")(z), z.max(0).values)
    with pytest.raises(ValueError):
        TimeReduce("median")
    logp = SoftmaxSum()(z)
    assert torch.allclose(logp.exp().sum(-1), torch.ones(3))
    assert torch.equal(logp.argmax(-1), torch.softmax(z, -1).sum(0).argmax(-1))
    li = LeakyIntegrator(5, tau=10e-3, dt=1e-3)
    v = li(torch.ones(50, 1, 5))
    assert torch.allclose(v[-1], torch.full((1, 5), 1 - 0.9048374180359595 ** 50, dtype=v.dtype), atol=1e-5)


def test_cuba_and_ssm_neuron_agree():
    layer = CubaLIF(4, dt=1e-3)
    frozen = SSMNeuron.from_layer(layer)
    x = torch.rand(30, 2, 4) * 10
    assert torch.equal(layer(x), frozen(x))
    assert len(list(frozen.parameters())) == 0
