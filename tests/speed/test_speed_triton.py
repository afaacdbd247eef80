"""The Triton CUDA backend against the reference scan on the GPU; skipped cleanly without CUDA or Triton."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings

if not torch.cuda.is_available():
    pytest.skip("CUDA is not available", allow_module_level=True)
pytest.importorskip("triton")

from speed_scan_cases import assert_equivalent, problems  # noqa: E402

from adaspike.layers import LIF  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(problems())
def test_triton_matches_reference_float32(p):
    assert_equivalent(p, torch.float32, device="cuda", backend="triton")


@settings(max_examples=15, deadline=None)
@given(problems())
def test_triton_matches_reference_float64(p):
    assert_equivalent(p, torch.float64, device="cuda", backend="triton")


def test_triton_is_chosen_automatically_for_cuda():
    layer = LIF((64,)).cuda()
    x = (2 * torch.rand(50, 8, 64, device="cuda")).requires_grad_(True)
    ref = LIF((64,), backend="reference").cuda()
    ref.load_state_dict(layer.state_dict())
    out, out_ref = layer(x), ref(x)
    assert torch.equal(out, out_ref)
    g = torch.autograd.grad(out.sum(), x)[0]
    g_ref = torch.autograd.grad(out_ref.sum(), x)[0]
    torch.testing.assert_close(g, g_ref, rtol=1e-4, atol=1e-5)
