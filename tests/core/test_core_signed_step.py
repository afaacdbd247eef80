"""core.SignedBurstSpike and core.step.signed_if_step: signed bursts with memory track the quantised ReLU of the
integrated input whatever its order, and the numba step equals the torch step bit for bit."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings, strategies as st

from adaspike.core import NeuronState, SignedBurstSpike
from adaspike.core.step import burst_if_step, burst_if_step_reference, signed_if_step


@settings(max_examples=60, deadline=None)
@given(inputs=st.lists(st.integers(-6, 6), min_size=1, max_size=40), theta_exp=st.integers(-2, 2))
def test_count_sent_is_relu_of_floor_of_integrated_input(inputs, theta_exp):
    """Without a binding cap, N(t) = max(0, ⌊Σ_{≤t} I / θ⌋) at every step (θ a power of two: exact floats)."""
    theta = torch.tensor([2.0 ** theta_exp], dtype=torch.float64)
    rule, state, total = SignedBurstSpike(64), None, 0.0
    for value in inputs:
        total += value
        out = signed_if_step(torch.full((1, 1), float(value), dtype=torch.float64), theta, state, rule)
        state = out.final
        expected = max(0.0, float(torch.floor(torch.tensor(total) / theta)))
        assert float(state.x[0, 0, 1]) == expected
        assert float(out.graded[0, 0]) == float(out.spikes[0, 0]) * float(theta)


def test_negative_spikes_take_back_early_spikes_and_never_more():
    theta = torch.ones(1)
    state, counts = None, []
    for value in [3.0, -2.0, -5.0, 1.0]:
        out = signed_if_step(torch.tensor([[value]]), theta, state, SignedBurstSpike(8))
        state, counts = out.final, counts + [float(out.spikes)]
    assert counts == [3.0, -2.0, -1.0, 0.0]        # the total never goes below zero: ReLU of the running sum
    assert float(state.x[0, 0, 1]) == 0.0


def test_cap_limits_both_signs_per_step():
    out = signed_if_step(torch.tensor([[10.0]]), torch.ones(1), None, SignedBurstSpike(4))
    assert float(out.spikes) == 4.0
    out = signed_if_step(torch.tensor([[-20.0]]), torch.ones(1), out.final, SignedBurstSpike(4))
    assert float(out.spikes) == -4.0


def test_without_memory_it_is_the_burst_count():
    v = torch.tensor([-3.0, 0.5, 2.5, 9.0])
    assert torch.equal(SignedBurstSpike(4)(v, torch.ones(1)), torch.tensor([0.0, 0.0, 2.0, 4.0]))
    with pytest.raises(ValueError, match="max_spikes"):
        SignedBurstSpike(0)


@settings(max_examples=40, deadline=None)
@given(batch=st.integers(1, 3), channels=st.integers(1, 4), spatial=st.sampled_from([(), (3,), (2, 3)]),
       gamma=st.integers(1, 8), steps=st.integers(1, 5), dtype=st.sampled_from([torch.float32, torch.float64]),
       seed=st.integers(0, 2**16))
def test_numba_signed_step_matches_torch_step(batch, channels, spatial, gamma, steps, dtype, seed):
    pytest.importorskip("numba")
    g = torch.Generator().manual_seed(seed)
    shape = (batch, channels, *spatial)
    theta = 0.2 + torch.rand(channels, generator=g)
    offset = 0.3 * torch.randn(channels, generator=g)
    state, sent = None, torch.zeros(shape, dtype=dtype)
    for _ in range(steps):
        z = (2.0 * torch.randn(shape, generator=g)).to(dtype)
        fast = burst_if_step(z, offset, theta, state, gamma, sent)
        ref = burst_if_step_reference(z, offset, theta, state, gamma, sent)
        for a, b in zip(fast, ref):
            assert torch.equal(a, b)
        assert bool((fast[1] >= -sent).all())
        sent = sent + fast[1]
        state = NeuronState(fast[0].unsqueeze(-1), fast[1])
