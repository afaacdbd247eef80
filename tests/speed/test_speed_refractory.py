"""Refractory spike rules on the fused numba path: identical spikes, states and counter, matching gradients."""
from __future__ import annotations

import importlib
import itertools
import os

import pytest
import torch
from hypothesis import given, settings

pytest.importorskip("numba")

from speed_scan_cases import SURROGATES, assert_equivalent, refractory_problems  # noqa: E402

from adaspike.core import BinarySpike, BurstSpike, NeuronState, lif_discrete, scan  # noqa: E402
from adaspike.core.backends.layout import spike_rule  # noqa: E402

scan_module = importlib.import_module("adaspike.core.multistep")
backends_module = importlib.import_module("adaspike.core.backends")


def _case(n, burst, reset, recurrent, k, with_counter=True, **over):
    p = dict(n=n, mem=n - 1, T=18, batch=3, feat=(6,), per_neuron=True, time_varying=False, reset=reset,
             detach=False, surrogate=SURROGATES[0], strict=False, burst=burst, with_state=True, return_states=True,
             recurrent=recurrent, seed=11 + n + 3 * burst + 7 * k, refractory=k, with_counter=with_counter)
    p.update(over)
    return p


GRID = list(itertools.product([1, 3], [1, 3], ["subtract", "zero"], [1, 2], [False, True]))


@pytest.mark.parametrize("k,burst,reset,n,recurrent", GRID)
def test_numba_refractory_matches_reference(k, burst, reset, n, recurrent):
    """Spikes, states, final state (with the counter) and gradients wrt the current, H, B, kicks, θ, x0, s0 and
    the recurrent weight, from a nonzero initial counter."""
    assert_equivalent(_case(n, burst, reset, recurrent, k), torch.float64)


@pytest.mark.parametrize("k,burst,reset,n,recurrent", [g for g in GRID if g[0] == 3 and g[3] == 2])
def test_numba_refractory_matches_reference_float32(k, burst, reset, n, recurrent):
    assert_equivalent(_case(n, burst, reset, recurrent, k), torch.float32)


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_numba_refractory_without_initial_state(reset):
    assert_equivalent(_case(1, 1, reset, False, 2, with_state=False), torch.float64)
    assert_equivalent(_case(2, 1, reset, True, 1, with_counter=False), torch.float64)


@settings(max_examples=30, deadline=None)
@given(refractory_problems())
def test_numba_refractory_matches_reference_random(p):
    assert_equivalent(p, torch.float64)


@settings(max_examples=15, deadline=None)
@given(refractory_problems())
def test_numba_refractory_matches_reference_random_float32(p):
    assert_equivalent(p, torch.float32)


def test_fractional_and_negative_initial_counter_is_followed_exactly():
    """The counter is a float state like the reference's: non-integer and negative values decay the same way."""
    counter = torch.tensor([[0.5, 2.5, -1.0, 1.0, 3.25, 0.0]] * 3, dtype=torch.float64)
    for recurrent in (False, True):
        assert_equivalent(_case(1, 1, "subtract", recurrent, 2, counter=counter), torch.float64)


def test_numba_is_selected_for_refractory_rules(monkeypatch):
    rule = BinarySpike(refractory=2)
    assert spike_rule(rule).refractory == 2
    seen, real = [], scan_module.reference_scan
    monkeypatch.setattr(backends_module, "reference_scan", lambda req: seen.append("ref") or real(req))
    current = 3 * torch.rand(10, 2, 4)
    out = scan(current, lif_discrete(0.9), spike_fn=rule, backend="numba")  # would raise if declined
    auto = scan(current, lif_discrete(0.9), spike_fn=BurstSpike(3, refractory=1))
    assert seen == []
    assert out.final.refractory is not None and auto.final.refractory is not None
    ref = scan(current, lif_discrete(0.9), spike_fn=rule, backend="reference")
    assert torch.equal(out.spikes, ref.spikes) and torch.equal(out.final.refractory, ref.final.refractory)


def test_refractory_blocks_spikes():
    """A neuron driven above threshold at every step fires once per k + 1 steps."""
    current = torch.full((12, 1, 2), 5.0)
    for k in (1, 3):
        out = scan(current, lif_discrete(0.5), reset="zero", spike_fn=BinarySpike(refractory=k), backend="numba")
        expected = torch.tensor([1.0 if t % (k + 1) == 0 else 0.0 for t in range(12)])
        assert torch.equal(out.spikes[:, 0, 0], expected)
        # blocked counter after the last step: k right after a spike, then counting down
        last = max(t for t in range(12) if t % (k + 1) == 0)
        assert float(out.final.refractory[0, 0]) == max(k - (11 - last), 0)
    blocked = scan(current, lif_discrete(0.5), spike_fn=BinarySpike(refractory=2), backend="numba",
                   state=NeuronState(torch.zeros(1, 2, 1), torch.zeros(1, 2), torch.tensor([[2.0, 0.0]])))
    assert blocked.spikes[:2, 0, 0].sum() == 0 and blocked.spikes[0, 0, 1] == 1


def test_burst_cap_at_the_blocked_code_falls_back():
    """Counts are uint8 and 255 marks a blocked step: a refractory burst cap of 255 runs on the reference."""
    assert spike_rule(BurstSpike(255, refractory=1)) is None
    assert spike_rule(BurstSpike(254, refractory=1)) is not None
    assert spike_rule(BurstSpike(255)) is not None
    current = torch.rand(4, 2, 3)
    with pytest.raises(ValueError, match="does not support"):
        scan(current, lif_discrete(0.9), spike_fn=BurstSpike(255, refractory=1), backend="numba")


def test_parallel_launch_with_refractory_matches_reference():
    from adaspike.core.backends import numba_backend

    p = _case(2, 3, "subtract", False, 2, feat=(1100,), batch=9, T=16)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert numba_backend._workers(p["batch"], 16 * 9 * 1100) == 2
        assert_equivalent(p, torch.float64)
    finally:
        torch.set_num_threads(threads)


def test_checkpointed_scan_carries_the_counter():
    from adaspike.core.chunked import checkpointed_scan

    x = (3 * torch.rand(30, 2, 5, dtype=torch.float64)).requires_grad_(True)
    ssm, rule = lif_discrete(0.9), BinarySpike(refractory=3)
    plain = scan(x, ssm, spike_fn=rule)
    chunked = checkpointed_scan(x, ssm, 7, spike_fn=rule)
    assert torch.equal(plain.spikes, chunked.spikes)
    assert torch.equal(plain.final.refractory, chunked.final.refractory)
    w = torch.randn_like(plain.spikes)
    g_plain = torch.autograd.grad((plain.spikes * w).sum(), x)[0]
    g_chunk = torch.autograd.grad((chunked.spikes * w).sum(), x)[0]
    torch.testing.assert_close(g_chunk, g_plain)


def test_refractory_layer_matches_reference():
    from adaspike.layers import LIF

    torch.manual_seed(0)
    layers = {b: LIF((7,), backend=b, learn_threshold=True, refractory=3e-3) for b in ("reference", "numba")}
    layers["numba"].load_state_dict(layers["reference"].state_dict())
    assert layers["numba"].spike_fn.refractory == 2
    x = 3 * torch.rand(25, 4, 7)
    grads = {}
    for b, layer in layers.items():
        out = layer(x)
        (out * torch.linspace(0, 1, 7)).sum().backward()
        grads[b] = (out, {k: p.grad.clone() for k, p in layer.named_parameters()})
    assert torch.equal(grads["reference"][0], grads["numba"][0]) and grads["reference"][0].sum() > 0
    for k, g in grads["reference"][1].items():
        torch.testing.assert_close(grads["numba"][1][k], g, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("n,burst,reset,with_r0", [(1, 0, 0, True), (2, 3, 1, False)])
def test_opcheck_with_refractory(n, burst, reset, with_r0):
    from adaspike.core.backends import fused, numba_backend

    fused.register_kernels("cpu", numba_backend.KERNELS)
    T, B, N = 6, 3, 4
    g = torch.Generator().manual_seed(n + burst)
    leaf = lambda t: t.to(torch.float64).requires_grad_(True)
    H = 0.5 * torch.eye(n, dtype=torch.float64) + 0.2 * torch.rand(1, N, n, n, generator=g, dtype=torch.float64)
    r0 = torch.tensor([[0.0, 1.0, 2.0, 3.0]] * B, dtype=torch.float64) if with_r0 else None
    args = [leaf(2.0 * torch.randn(T, B, N, generator=g, dtype=torch.float64)), leaf(H.permute(0, 2, 3, 1)),
            leaf(torch.rand(1, n, N, generator=g, dtype=torch.float64) + 0.5), leaf(-torch.ones(n, N)),
            leaf(0.1 * torch.ones(n, N)), leaf(torch.rand(N, generator=g, dtype=torch.float64) + 0.5),
            leaf(torch.zeros(n, B, N)), leaf(torch.zeros(B, N)), n - 1, reset, burst, False, False, 1, 2.0, r0, 2]
    result = torch.library.opcheck(torch.ops.adaspike.fused_scan.default, args)
    assert set(result.values()) == {"SUCCESS"}, result


TRITON_CASES = [(1, 1, "subtract", 1, False), (3, 3, "zero", 2, False), (3, 1, "zero", 2, True),
                (1, 3, "none", 1, True)]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
@pytest.mark.parametrize("k,burst,reset,n,recurrent", TRITON_CASES)
def test_triton_refractory_matches_reference(k, burst, reset, n, recurrent):
    pytest.importorskip("triton")
    for dtype in (torch.float32, torch.float64):
        assert_equivalent(_case(n, burst, reset, recurrent, k), dtype, device="cuda", backend="triton")


@pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") != "1", reason="Triton kernels on CPU need TRITON_INTERPRET=1")
@pytest.mark.parametrize("k,burst,reset,n,recurrent", TRITON_CASES)
def test_triton_refractory_kernels_under_interpreter(k, burst, reset, n, recurrent):
    """The Triton kernels run by Triton's CPU interpreter (no GPU needed), behind a CPU-only test backend."""
    pytest.importorskip("triton")
    from adaspike.core.backends import fused, triton_backend
    from adaspike.core.backends.layout import basic_support

    backends_module.register_default_backends()
    scan_module.register_backend("triton_interpreted", lambda req: fused.fused_scan(req, triton_backend.KERNELS),
                                 lambda req: basic_support(req, "cpu"), auto=False, replace=True)
    for dtype in (torch.float32, torch.float64):
        assert_equivalent(_case(n, burst, reset, recurrent, k, T=8), dtype, backend="triton_interpreted")


@pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") != "1", reason="Triton kernels on CPU need TRITON_INTERPRET=1")
@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("kind", ["lif", "adlif"])
def test_triton_irregular_steps_under_interpreter(kind, recurrent):
    """Per-step dt on the Triton kernels: a clock of irregular steps with a spike rule in seconds (per-step
    caps and holds) and the recurrent count scale, against the reference."""
    pytest.importorskip("triton")
    from adaspike.core import AdLIFParams, LIFParams, rule_for_steps
    from adaspike.core.backends import fused, triton_backend
    from adaspike.core.backends.layout import basic_support

    backends_module.register_default_backends()
    scan_module.register_backend("triton_interpreted", lambda req: fused.fused_scan(req, triton_backend.KERNELS),
                                 lambda req: basic_support(req, "cpu"), auto=False, replace=True)
    g = torch.Generator().manual_seed(5)
    steps = 0.3e-3 + 9e-3 * torch.rand(16, generator=g, dtype=torch.float64)
    taus = 5e-3 + 20e-3 * torch.rand(6, generator=g, dtype=torch.float64)
    params = LIFParams(tau=taus) if kind == "lif" else AdLIFParams(tau_u=taus, a=torch.rand(6, generator=g))
    for dtype in (torch.float32, torch.float64):
        x = (2.5 * torch.rand(16, 3, 6, generator=g)).to(dtype)
        kw = dict(recurrent_weight=(0.4 * torch.randn(6, 6, generator=g)).to(dtype),
                  recurrent_scale=4e-3 / steps) if recurrent else {}
        outs = [scan(x.clone().requires_grad_(True), params.continuous(), dt=steps, return_states=True,
                     spike_fn=rule_for_steps(steps, 4e-3), backend=be, **kw)
                for be in ("reference", "triton_interpreted")]
        assert torch.equal(outs[0].spikes, outs[1].spikes)
        torch.testing.assert_close(outs[1].states, outs[0].states, rtol=0, atol=0)
