"""The recurrent fused scan (drive I_t + V·s_{t−1}) against the reference: identical spikes, close gradients.

Two runners are checked: the numba step runners (one kernel call per step on the full buffers) and the sliced
fallback that backends without runners (Triton) use, driven here by the numba kernels so it runs on CPU.
"""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("numba")

from speed_scan_cases import assert_equivalent, problems  # noqa: E402

from adaspike.core import FastSigmoid, lif_discrete, scan  # noqa: E402
from adaspike.core.backends import _BACKENDS, register_backend  # noqa: E402
from adaspike.core.backends.fused import fused_scan, register_kernels  # noqa: E402
from adaspike.core.backends.layout import basic_support  # noqa: E402


@st.composite
def recurrent_problems(draw, refractory: bool = False):
    """``problems`` with a recurrent weight, wider layers and longer sequences (so spikes feed back)."""
    p = draw(problems())
    p.update(recurrent=True, feat=(draw(st.integers(1, 40)),), T=draw(st.integers(1, 30)),
             batch=draw(st.integers(1, 6)))
    if refractory:
        p.update(refractory=draw(st.sampled_from([1, 2])), with_counter=draw(st.booleans()))
    return p


@settings(max_examples=30, deadline=None)
@given(recurrent_problems())
def test_recurrent_numba_matches_reference_float64(p):
    assert_equivalent(p, torch.float64)


@settings(max_examples=15, deadline=None)
@given(recurrent_problems())
def test_recurrent_numba_matches_reference_float32(p):
    assert_equivalent(p, torch.float32)


@settings(max_examples=10, deadline=None)
@given(recurrent_problems(refractory=True))
def test_recurrent_refractory_matches_reference(p):
    assert_equivalent(p, torch.float64)


class _NoRunners:
    """The numba kernels seen through the plain two-method interface only (as the Triton kernels offer)."""

    def __init__(self, kernels):
        self._k = kernels

    def forward(self, *args, **kwargs):
        return self._k.forward(*args, **kwargs)

    def backward(self, *args, **kwargs):
        return self._k.backward(*args, **kwargs)


@pytest.fixture
def sliced_backend():
    from adaspike.core.backends.numba_backend import KERNELS

    wrapped = _NoRunners(KERNELS)
    register_backend("numba_sliced", lambda req: fused_scan(req, wrapped), lambda req: basic_support(req, "cpu"),
                     auto=False)
    try:
        yield "numba_sliced"
    finally:
        del _BACKENDS["numba_sliced"]
        register_kernels("cpu", KERNELS)  # fused_scan registered the wrapper for CPU tensors


@pytest.mark.parametrize("n,reset,burst,tv,k", [(1, "subtract", 1, False, 0), (2, "zero", 1, True, 0),
                                                (1, "none", 3, True, 0), (2, "subtract", 2, False, 2),
                                                (1, "subtract", 1, True, 1)])
def test_sliced_runners_match_reference(sliced_backend, n, reset, burst, tv, k):
    p = dict(n=n, mem=n - 1, T=17, batch=3, feat=(23,), per_neuron=True, time_varying=tv, reset=reset,
             detach=False, surrogate=FastSigmoid(), strict=False, burst=burst, with_state=True,
             return_states=True, recurrent=True, seed=5 + n + burst + k, refractory=k, with_counter=bool(k))
    assert_equivalent(p, torch.float64, backend=sliced_backend)


def test_recurrent_spikes_feed_back():
    """A non-vacuous case: the recurrent weight changes the spikes, and both backends agree on them."""
    g = torch.Generator().manual_seed(0)
    ssm = lif_discrete(0.95, gain=1.0)
    current = 0.15 + 0.1 * torch.randn(50, 8, 64, generator=g)
    V = 0.5 * torch.randn(64, 64, generator=g)
    plain = scan(current, ssm, backend="numba").spikes
    outs = [scan(current, ssm, recurrent_weight=V, backend=b).spikes for b in ("reference", "numba")]
    assert torch.equal(outs[0], outs[1])
    assert 0 < float(outs[1].mean()) < 1 and not torch.equal(plain, outs[1])
