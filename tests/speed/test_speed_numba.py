"""The numba CPU backend against the reference scan: identical spikes, gradients within float tolerance."""
from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings

numba = pytest.importorskip("numba")

from speed_scan_cases import SURROGATES, assert_equivalent, assert_inference_equivalent, problems  # noqa: E402

from adaspike.core import BinarySpike, Surrogate, if_discrete, lif_discrete, scan  # noqa: E402
import importlib  # noqa: E402

scan_module = importlib.import_module("adaspike.core.multistep")
backends_module = importlib.import_module("adaspike.core.backends")
from adaspike.layers import LIF, AdLIF, CubaLIF  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(problems())
def test_numba_matches_reference_float64(p):
    assert_equivalent(p, torch.float64)


@settings(max_examples=25, deadline=None)
@given(problems())
def test_numba_matches_reference_float32(p):
    assert_equivalent(p, torch.float32)


@settings(max_examples=30, deadline=None)
@given(problems())
def test_inference_without_trace_matches_reference(p):
    """No gradients and no trace asked for: the kernels keep only per-row scratch states, results unchanged."""
    assert_inference_equivalent(p, torch.float32)
    assert_inference_equivalent(p, torch.float64)


def test_inference_keeps_no_states_trace():
    """The fused op's states output shrinks to the last step when ``keep_states`` is False (numba kernels)."""
    from adaspike.core.backends import numba_backend
    from adaspike.core.backends.fused import fused_scan_op, register_kernels

    T, B, N = 7, 3, 5
    g = torch.Generator().manual_seed(0)
    current = torch.rand(T, B, N, generator=g)
    args = (current, torch.full((1, 1, 1, N), 0.9), torch.ones(1, 1, N), -torch.ones(1, N), torch.zeros(1, N),
            torch.full((N,), 0.5), torch.zeros(1, B, N), torch.zeros(B, N), 0, 0, 0, False, False, 0, 1.0)
    register_kernels("cpu", numba_backend.KERNELS)
    full = fused_scan_op(*args)
    lean = fused_scan_op(*args, None, 0, False)
    assert full[1].shape[0] == T and lean[1].shape[0] == 1
    assert torch.equal(full[0], lean[0]) and torch.equal(full[3], lean[3]) and torch.equal(lean[3], full[1][-1])


@pytest.mark.slow
@pytest.mark.parametrize("recurrent,batch,features", [(False, 9, 1100), (True, 9, 96), (True, 64, 2100)])
def test_parallel_inference_matches_reference(recurrent, batch, features):
    """Serial and parallel launches (64 × 2100 is above the parallel threshold) of the no-trace path; recurrent
    LIF steps there add the current inside the kernel."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    p = dict(n=1, mem=0, T=4 if features > 1000 and recurrent else 16, batch=batch, feat=(features,),
             per_neuron=True, time_varying=False, reset="subtract", detach=False, surrogate=SURROGATES[0],
             strict=False, burst=1, with_state=True, return_states=False, recurrent=recurrent, seed=4)
    try:
        assert_inference_equivalent(p, torch.float32)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("strict", [False, True])
def test_exact_threshold_ties_follow_strictness(strict):
    # IF with gain 1 and unit steps lands exactly on θ = 1: only the non-strict rule fires there
    ssm = if_discrete(gain=1.0, threshold=1.0)
    current = torch.full((6, 2, 3), 0.5)
    outs = [scan(current, ssm, spike_fn=BinarySpike(strict=strict), backend=b).spikes for b in ("reference", "numba")]
    assert torch.equal(outs[0], outs[1])
    assert bool(outs[1][1].eq(0 if strict else 1).all())


@pytest.mark.parametrize("layer_cls", [LIF, CubaLIF, AdLIF])
def test_layer_parameter_gradients_match(layer_cls):
    torch.manual_seed(0)
    layers = {b: layer_cls((7,), backend=b, learn_threshold=True) for b in ("reference", "numba")}
    layers["numba"].load_state_dict(layers["reference"].state_dict())
    x = 3 * torch.rand(25, 4, 7)
    grads = {}
    for b, layer in layers.items():
        out = layer(x)
        (out * torch.linspace(0, 1, 7)).sum().backward()
        grads[b] = (out, {k: p.grad.clone() for k, p in layer.named_parameters()})
    assert torch.equal(grads["reference"][0], grads["numba"][0])
    assert grads["reference"][0].sum() > 0
    for k, g in grads["reference"][1].items():
        torch.testing.assert_close(grads["numba"][1][k], g, rtol=1e-4, atol=1e-5)


def test_auto_picks_numba_and_env_forces_reference(monkeypatch):
    ssm = lif_discrete(0.9)
    seen, real = [], scan_module.reference_scan
    monkeypatch.setattr(backends_module, "reference_scan", lambda req: seen.append("ref") or real(req))
    scan(torch.rand(3, 2, 4), ssm)
    assert seen == []
    monkeypatch.setenv("ADASPIKE_BACKEND", "reference")
    scan(torch.rand(3, 2, 4), ssm)
    assert seen == ["ref"]


def test_unsupported_options_fall_back_to_reference():
    class Box(Surrogate):
        slope = 1.0

        def grad(self, x):
            return (x.abs() < 0.5).to(x.dtype)

    ssm = lif_discrete(0.8)
    req_current = torch.rand(4, 2, 3)
    with pytest.raises(ValueError, match="does not support"):
        scan(req_current, ssm, spike_fn=BinarySpike(Box()), backend="numba")
    out = scan(req_current, ssm, spike_fn=BinarySpike(Box()))  # auto: reference handles it
    assert out.spikes.shape == (4, 2, 3)
    # a recurrent weight of another dtype is cast to the input's, so the fused path still applies
    weight = torch.eye(3, dtype=torch.float64)
    fused = scan(req_current, ssm, recurrent_weight=weight, backend="numba")
    assert torch.equal(fused.spikes, scan(req_current, ssm, recurrent_weight=weight, backend="reference").spikes)


@pytest.mark.slow
def test_import_compiles_nothing():
    code = ("import sys, adaspike, adaspike.core, adaspike.layers; "
            "print('numba' in sys.modules, 'adaspike.core.backends.numba_kernels' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_missing_numba_logs_once_and_falls_back(caplog):
    from adaspike.core.backends import LazyBackend

    backend = LazyBackend("fake", "numba_backend", "numba_scan", "cpu", "not_a_real_module_xyz", "hint")
    req = scan_module.ScanRequest(torch.rand(2, 1, 3), lif_discrete(0.9), "subtract", False, BinarySpike(),
                                  scan_module.NeuronState(torch.zeros(1, 3, 1), torch.zeros(1, 3)), None, False)
    with caplog.at_level(logging.WARNING, logger="adaspike"):
        assert backend.supports(req) is False
        assert backend.supports(req) is False
    assert len([r for r in caplog.records if "fake backend unavailable" in r.getMessage()]) == 1


@pytest.mark.parametrize("chunk", [1, 7, 40])
def test_checkpointed_scan_equals_plain_scan(chunk):
    from adaspike.core.chunked import checkpointed_scan
    from adaspike.core import adlif_discrete

    alpha = torch.full((6,), 0.9, dtype=torch.float64, requires_grad=True)
    x = (2 * torch.rand(33, 2, 6)).requires_grad_(True)
    plain = scan(x, adlif_discrete(alpha, 0.95, 0.3, 0.5))
    chunked = checkpointed_scan(x, adlif_discrete(alpha, 0.95, 0.3, 0.5), chunk)
    assert torch.equal(plain.spikes, chunked.spikes)
    w = torch.randn_like(plain.spikes)
    g_plain = torch.autograd.grad((plain.spikes * w).sum() + plain.final.x.sum(), [x, alpha])
    g_chunk = torch.autograd.grad((chunked.spikes * w).sum() + chunked.final.x.sum(), [x, alpha])
    for a, b in zip(g_chunk, g_plain):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)  # float32 sums in another order


@pytest.mark.parametrize("n,reset,burst,recurrent", [(1, "subtract", 1, False), (2, "zero", 1, False),
                                                     (1, "none", 3, False), (2, "subtract", 2, False),
                                                     (1, "subtract", 1, True)])
@pytest.mark.slow
def test_parallel_launch_matches_reference(n, reset, burst, recurrent):
    """Calls above the parallel threshold split batch rows over numba threads; results must not change."""
    from adaspike.core.backends import numba_backend

    feat = (96,) if recurrent else (1100,)
    p = dict(n=n, mem=n - 1, T=16, batch=9, feat=feat, per_neuron=True, time_varying=False, reset=reset,
             detach=False, surrogate=SURROGATES[1], strict=False, burst=burst, with_state=True, return_states=True,
             recurrent=recurrent, seed=3)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        if not recurrent and numba.config.NUMBA_NUM_THREADS >= 2:  # NUMBA_NUM_THREADS=1 caps the pool at one
            assert numba_backend._workers(p["batch"], 16 * 9 * 1100) == 2
        assert_equivalent(p, torch.float64)
        assert_equivalent(p, torch.float32)
    finally:
        torch.set_num_threads(threads)


def test_concurrent_calls_from_python_threads_agree():
    from concurrent.futures import ThreadPoolExecutor

    ssm = lif_discrete(torch.linspace(0.8, 0.99, 2048))
    currents = [torch.rand(20, 8, 2048, generator=torch.Generator().manual_seed(i)) for i in range(4)]
    expected = [scan(c, ssm, backend="numba").spikes for c in currents]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda c: scan(c, ssm, backend="numba").spikes, currents * 3))
    for i, spikes in enumerate(got):
        assert torch.equal(spikes, expected[i % 4])


def test_cached_layout_follows_in_place_parameter_changes():
    """The kernel layout of a DiscreteSSM is reused across no-grad calls, but not after an in-place change."""
    from dataclasses import replace

    # per-column parameters broadcast over [2, 3] features: the kernel layout is a copy, not a view
    ssm = lif_discrete(torch.linspace(0.8, 0.99, 3))
    ssm = replace(ssm, B=ssm.B.expand(3, 1).clone())
    # float64 like the parameters, so the scan runs this very DiscreteSSM (no cast)
    current = 2 * torch.rand(9, 3, 2, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with torch.no_grad():
        before = scan(current, ssm, backend="numba").spikes
        assert torch.equal(before, scan(current, ssm, backend="numba").spikes)
        ssm.B.mul_(0.25)
        after = scan(current, ssm, backend="numba").spikes
        assert torch.equal(after, scan(current, ssm, backend="reference").spikes)
    assert not torch.equal(before, after)


def test_recurrent_training_with_frozen_neuron_matches_reference():
    """Frozen time constants: the drives are not kept, so the kernel adds the current itself in training too."""
    torch.manual_seed(0)
    layer = LIF(40, learn_tau=False)
    V = (0.3 * torch.randn(40, 40)).requires_grad_(True)
    x = (1.5 * torch.rand(12, 3, 40)).requires_grad_(True)
    w = torch.randn(12, 3, 40)
    results = []
    for backend in ("reference", "numba"):
        layer.backend = backend
        out = layer.run(x, recurrent_weight=V)
        results.append((out.spikes, *torch.autograd.grad((out.spikes * w).sum() + out.final.x.sum(), [x, V])))
    assert torch.equal(results[0][0], results[1][0])
    for ref, fast in zip(results[0][1:], results[1][1:]):
        torch.testing.assert_close(fast, ref, rtol=2e-4, atol=2e-4)
