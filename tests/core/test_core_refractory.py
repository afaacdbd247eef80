"""Spike rules defined in seconds: refractory steps, burst capacity, state, gradients and layer plumbing."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from adaspike.core import BinarySpike, BurstSpike, NeuronState, lif_discrete, rule_for_step, scan
from adaspike.core.spikes import steps_per_period
from adaspike.layers import LIF, AdLIF, RecurrentSpikingLayer

f64 = torch.float64


@pytest.mark.parametrize("dt, period, expected", [
    (4e-3, 4e-3, (0, 1)), (2e-3, 4e-3, (1, 1)), (1e-3, 4e-3, (3, 1)), (8e-3, 4e-3, (0, 2)),
    (16e-3, 4e-3, (0, 4)), (1e-3 / 3, 1e-3, (2, 1))])
def test_steps_per_period(dt, period, expected):
    assert steps_per_period(dt, period) == expected


def test_rule_for_step_builds_the_per_step_rule():
    assert rule_for_step(4e-3, None) == BinarySpike()
    assert rule_for_step(2e-3, 4e-3).refractory == 1
    coarse = rule_for_step(8e-3, 4e-3)
    assert isinstance(coarse, BurstSpike) and coarse.max_spikes == 2 and coarse.refractory == 0
    assert rule_for_step(8e-3, 4e-3, max_spikes=3).max_spikes == 6
    with pytest.raises(ValueError, match="whole number"):
        BinarySpike(refractory=-1)


def _lif(n=6):
    return lif_discrete(torch.full((n,), 0.9, dtype=f64), threshold=torch.ones(n, dtype=f64))


@settings(max_examples=40, deadline=None)
@given(hold=st.integers(0, 4), seed=st.integers(0, 10_000))
def test_refractory_spikes_are_separated_by_hold_steps(hold, seed):
    g = torch.Generator().manual_seed(seed)
    current = 30 * torch.rand(60, 2, 6, generator=g, dtype=f64)
    out = scan(current, _lif(), spike_fn=BinarySpike(refractory=hold), backend="reference")
    spikes = out.spikes
    times = [torch.nonzero(spikes[:, b, j]).flatten() for b in range(2) for j in range(6)]
    for t in times:
        if t.numel() > 1:
            assert int((t[1:] - t[:-1]).min()) >= hold + 1
    # a neuron driven far above threshold fires as often as the rule allows: once every hold + 1 steps
    strong = scan(torch.full((60, 1, 6), 1e3, dtype=f64), _lif(), spike_fn=BinarySpike(refractory=hold))
    assert float(strong.spikes.sum(0).min()) == len(range(0, 60, hold + 1))


def test_refractory_zero_is_the_plain_rule_and_state_carries_over():
    g = torch.Generator().manual_seed(0)
    current = 5 * torch.rand(40, 3, 6, generator=g, dtype=f64)
    plain = scan(current, _lif(), backend="reference")
    zero = scan(current, _lif(), spike_fn=BinarySpike(refractory=0), backend="reference")
    assert torch.equal(plain.spikes, zero.spikes)
    # running in two halves with the returned state equals one run (the blocked counter is part of the state)
    rule = BinarySpike(refractory=2)
    whole = scan(current, _lif(), spike_fn=rule)
    first = scan(current[:17], _lif(), spike_fn=rule)
    assert first.final.refractory is not None
    second = scan(current[17:], _lif(), spike_fn=rule, state=first.final)
    assert torch.equal(torch.cat([first.spikes, second.spikes]), whole.spikes)


def test_burst_capacity_of_a_coarse_step():
    out = scan(torch.full((10, 1, 4), 1e3, dtype=f64), _lif(4), spike_fn=rule_for_step(8e-3, 4e-3))
    assert float(out.spikes.max()) == 2.0


def test_gradient_flows_through_unblocked_spikes_only():
    g = torch.Generator().manual_seed(3)
    current = (3 * torch.rand(30, 2, 6, generator=g, dtype=f64)).requires_grad_()
    out = scan(current, _lif(), spike_fn=BinarySpike(refractory=1), backend="reference")
    out.spikes.sum().backward()
    assert torch.isfinite(current.grad).all() and float(current.grad.abs().sum()) > 0


def test_layer_refractory_in_seconds_follows_dt():
    layer = LIF(5, dt=1e-3, refractory=4e-3)
    assert layer.spike_fn.refractory == 3
    assert LIF(5, dt=4e-3).spike_fn == BinarySpike(layer.surrogate)
    with pytest.raises(ValueError, match="refractory period"):
        LIF(5, dt=1e-3, refractory=0.0)
    recurrent = RecurrentSpikingLayer(7, 5, AdLIF(5, dt=2e-3, refractory=4e-3))
    spikes = recurrent(10 * torch.rand(50, 2, 7))
    assert spikes.shape == (50, 2, 5)
    both = spikes[1:] * spikes[:-1]
    assert float(both.sum()) == 0.0  # never two spikes on consecutive 2 ms steps
    assert "refractory=0.004s" in repr(recurrent.neuron)


def test_neuron_state_with_wrong_refractory_shape_is_refused():
    with pytest.raises(ValueError, match="refractory state"):
        scan(torch.zeros(3, 2, 6, dtype=f64), _lif(), spike_fn=BinarySpike(refractory=1),
             state=NeuronState(torch.zeros(2, 6, 1, dtype=f64), torch.zeros(2, 6, dtype=f64),
                               torch.zeros(3, 6, dtype=f64)))
