"""core.step.burst_if_step: the numba step equals the torch step and the core scan, bit for bit."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings, strategies as st

from adaspike.core import BurstSpike, NeuronState, if_discrete, scan
from adaspike.core.step import burst_if_step, burst_if_step_reference

pytest.importorskip("numba")


@settings(max_examples=60, deadline=None)
@given(batch=st.integers(1, 3), channels=st.integers(1, 4), spatial=st.sampled_from([(), (1,), (3,), (2, 3)]),
       gamma=st.integers(1, 8), per_channel=st.booleans(), steps=st.integers(1, 4),
       dtype=st.sampled_from([torch.float32, torch.float64]), seed=st.integers(0, 2**16))
def test_step_matches_reference_and_scan(batch, channels, spatial, gamma, per_channel, steps, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    shape = (batch, channels, *spatial)
    theta = (0.2 + torch.rand(channels if per_channel else 1, generator=g)).to(torch.float32)
    offset = 0.3 * torch.randn(channels, generator=g)
    zs = [(2.0 * torch.randn(shape, generator=g)).to(dtype) for _ in range(steps)]
    fast = ref = None
    for z in zs:
        vf, nf, of = burst_if_step(z, offset, theta, fast, gamma)
        vr, nr, orr = burst_if_step_reference(z, offset, theta, ref, gamma)
        assert torch.equal(vf, vr) and torch.equal(nf, nr) and torch.equal(of, orr)
        fast, ref = NeuronState(vf.unsqueeze(-1), nf), NeuronState(vr.unsqueeze(-1), nr)
    # the core scan of the same drive (z + δ) over all steps gives the same counts and final membrane
    view = lambda p: p.to(dtype).view(1, -1, *([1] * len(spatial)))
    drive = torch.stack([z + view(offset) for z in zs])
    out = scan(drive, if_discrete(1.0, view(theta)[0]), reset="subtract", spike_fn=BurstSpike(gamma),
               backend="reference")
    assert torch.equal(out.spikes[-1], fast.s)
    assert torch.equal(out.final.x[..., 0], fast.x[..., 0])


def test_non_finite_membrane_gives_nan_counts_like_torch():
    z = torch.tensor([[float("nan"), float("inf"), -float("inf"), 1.5]])
    args = (torch.zeros(1), torch.ones(1), None, 3)
    for a, b in zip(burst_if_step(z.view(1, 1, 4), *args), burst_if_step_reference(z.view(1, 1, 4), *args)):
        assert torch.equal(a.isnan(), b.isnan()) and torch.equal(a.nan_to_num(), b.nan_to_num())


def test_non_contiguous_input_and_non_cpu_fallback():
    z = torch.randn(3, 4, 5).transpose(1, 2)  # [3, 5, 4], not contiguous
    args = (torch.zeros(5), torch.full((5,), 0.5), None, 4)
    for a, b in zip(burst_if_step(z, *args), burst_if_step_reference(z, *args)):
        assert torch.equal(a, b)
