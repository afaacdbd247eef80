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


@settings(max_examples=40, deadline=None)
@given(model=st.sampled_from(["if", "lif", "cuba", "adlif"]), reset=st.sampled_from(["subtract", "zero", "none"]),
       burst=st.integers(1, 3), steps=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_generic_step_is_the_reference_scan_for_any_ssm(model, reset, burst, steps, seed):
    """core.step on IF, LIF, CuBa-LIF and adLIF (state sizes 1 and 2), every reset, binary and burst spikes."""
    from adaspike.core import BinarySpike, adlif_discrete, cuba_lif_discrete, lif_discrete, step

    g = torch.Generator().manual_seed(seed)
    theta = 0.3 + torch.rand(3, 1, generator=g, dtype=torch.float64)
    ssm = {"if": lambda: if_discrete(1.0, theta), "lif": lambda: lif_discrete(0.9, threshold=theta),
           "cuba": lambda: cuba_lif_discrete(0.8, 0.9, theta),
           "adlif": lambda: adlif_discrete(0.9, 0.95, 0.3, 0.2, threshold=theta)}[model]()
    rule = BinarySpike() if burst == 1 else BurstSpike(burst)
    offset = 0.1 * torch.randn(3, generator=g, dtype=torch.float64)
    zs = torch.randn(steps, 2, 3, 5, generator=g, dtype=torch.float64)
    state = None
    for z in zs:
        out = step(ssm, z, state, rule, reset=reset, offset=offset, graded=True)
        state = out.final
    whole = scan(zs + offset.view(1, 1, 3, 1), ssm, reset=reset, spike_fn=rule, backend="reference")
    assert torch.equal(whole.spikes[-1], out.spikes)
    assert torch.equal(whole.final.x, state.x)
    assert torch.equal(out.graded, out.spikes * theta)
