"""Step lengths as data: the scan on a clock of irregular steps ([T] or [T, B]).

Properties: a constant step vector is the fixed-step path bit for bit; splitting a step in two (the same level
input in both halves) gives the same state at the shared instants (the group law of the exact discretisation);
the reference and the fused numba kernels agree on irregular steps in spikes, states and gradients, spike rules
in seconds and recurrent count scaling included; bad clocks are refused with clear errors.
"""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from adaspike.core import (AdLIFParams, BinarySpike, CubaLIFParams, LIFParams, NeuronState, check_steps, clock,
                           constant_step, rule_for_step, rule_for_steps, scan)
from adaspike.core.spikes import StepwiseSpike, holds_for_steps, steps_per_period
from adaspike.layers import LIF, AdLIF, LeakyIntegrator, SSMNeuron, reduce_time

pytest.importorskip("numba")


def _params(kind: str, n_feat: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(n_feat, generator=g, dtype=torch.float64)
    if kind == "lif":
        return LIFParams(tau=u(5e-3, 40e-3), threshold=u(0.5, 1.5))
    if kind == "adlif":
        return AdLIFParams(tau_u=u(5e-3, 25e-3), tau_w=u(30e-3, 300e-3), a=u(-1, 1), b=u(0, 2),
                           threshold=u(0.5, 1.5))
    return CubaLIFParams(tau_syn=u(2e-3, 10e-3), tau_mem=u(5e-3, 40e-3), threshold=u(0.5, 1.5))


@st.composite
def clocks(draw, per_sample: bool | None = None):
    """A neuron kind, an irregular clock (lengths 0.2–12 ms), batch and options."""
    T = draw(st.integers(2, 30))
    batch = draw(st.integers(1, 3))
    sample_clocks = draw(st.booleans()) if per_sample is None else per_sample
    seed = draw(st.integers(0, 2 ** 16))
    g = torch.Generator().manual_seed(seed)
    shape = (T, batch) if sample_clocks else (T,)
    steps = 0.2e-3 + 11.8e-3 * torch.rand(shape, generator=g, dtype=torch.float64)
    return dict(kind=draw(st.sampled_from(["lif", "adlif", "cuba"])), T=T, batch=batch, feat=draw(st.integers(1, 12)),
                steps=steps, period=draw(st.sampled_from([None, 1e-3, 4e-3])), recurrent=draw(st.booleans()),
                reset=draw(st.sampled_from(["subtract", "zero"])), with_state=draw(st.booleans()), seed=seed)


def _run(p: dict, backend: str, dtype=torch.float64):
    g = torch.Generator().manual_seed(p["seed"] + 1)
    T, batch, F = p["T"], p["batch"], p["feat"]
    current = (2.5 * torch.rand(T, batch, F, generator=g, dtype=torch.float64)).to(dtype).requires_grad_(True)
    leaves = [current]
    kw = {}
    if p["recurrent"]:
        V = (0.5 * torch.randn(F, F, generator=g, dtype=torch.float64)).to(dtype).requires_grad_(True)
        leaves.append(V)
        kw = dict(recurrent_weight=V, recurrent_scale=4e-3 / p["steps"])
    if p["with_state"]:
        n = 2 if p["kind"] != "lif" else 1
        x0 = (0.3 * torch.randn(batch, F, n, generator=g, dtype=torch.float64)).to(dtype).requires_grad_(True)
        leaves.append(x0)
        kw["state"] = NeuronState(x0, torch.zeros(batch, F, dtype=dtype))
    ssm = _params(p["kind"], F, p["seed"]).continuous()
    rule = rule_for_steps(p["steps"], p["period"])
    out = scan(current, ssm, dt=p["steps"], spike_fn=rule, reset=p["reset"], return_states=True, backend=backend,
               **kw)
    w = torch.randn(out.spikes.shape, generator=g, dtype=torch.float64).to(dtype)
    loss = (out.spikes * w).sum() + 0.1 * out.states.sum() + out.final.x.sum()
    return out, torch.autograd.grad(loss, leaves)


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(clocks())
def test_irregular_steps_reference_and_fused_agree(p):
    ref, g_ref = _run(p, "reference")
    fast, g_fast = _run(p, "numba")
    assert torch.equal(ref.spikes, fast.spikes)
    torch.testing.assert_close(fast.states, ref.states, rtol=0, atol=0)
    if ref.final.refractory is not None:
        torch.testing.assert_close(fast.final.refractory, ref.final.refractory, rtol=0, atol=0)
    for a, b in zip(g_fast, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(["lif", "adlif", "cuba"]), st.integers(1, 25), st.floats(0.25e-3, 20e-3),
       st.sampled_from([None, 1e-3, 2e-3, 4e-3]), st.booleans(), st.integers(0, 1000))
def test_constant_steps_are_the_fixed_step_path_bit_for_bit(kind, T, dt, period, recurrent, seed):
    g = torch.Generator().manual_seed(seed)
    F = 6
    x = 2 * torch.rand(T, 2, F, generator=g)
    V = 0.5 * torch.randn(F, F, generator=g) if recurrent else None
    cont = _params(kind, F, seed).continuous()
    fixed = scan(x, cont.discretise(dt), spike_fn=rule_for_step(dt, period), recurrent_weight=V,
                 return_states=True)
    steps = torch.full((T,), dt, dtype=torch.float64)
    clocked = scan(x, cont, dt=steps, spike_fn=rule_for_steps(steps, period), recurrent_weight=V,
                   return_states=True)
    assert torch.equal(fixed.spikes, clocked.spikes)
    assert torch.equal(fixed.states, clocked.states)
    # a layer on a constant clock equal to its own step is its plain self
    layer = LIF(F, dt=dt, refractory=period)
    assert torch.equal(layer(x), layer(x, dt=steps))


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(["lif", "adlif", "cuba"]), st.integers(2, 20), st.integers(0, 10_000))
def test_splitting_a_step_in_two_keeps_the_state_at_shared_instants(kind, T, seed):
    """ZOH is exact for a held input: one step of length d equals two of d/2 with the same level input."""
    g = torch.Generator().manual_seed(seed)
    F = 5
    steps = 0.5e-3 + 8e-3 * torch.rand(T, generator=g, dtype=torch.float64)
    x = torch.randn(T, 3, F, generator=g, dtype=torch.float64)
    params = _params(kind, F, seed)
    params.threshold = torch.full((F,), 1e9, dtype=torch.float64)  # spiking off: the linear system alone
    cont = params.continuous()
    coarse = scan(x, cont, dt=steps, reset="none", return_states=True)
    halves = steps.repeat_interleave(2) / 2
    fine = scan(x.repeat_interleave(2, dim=0), cont, dt=halves, reset="none", return_states=True)
    torch.testing.assert_close(fine.states[1::2], coarse.states, rtol=1e-10, atol=1e-12)


@settings(max_examples=50, deadline=None)
@given(st.floats(0.05e-3, 20e-3), st.floats(0.1e-3, 10e-3), st.integers(1, 40))
def test_holds_on_equal_steps_are_the_fixed_rule(dt, period, T):
    holds = holds_for_steps(torch.full((T,), dt, dtype=torch.float64), period)
    assert holds.tolist() == [steps_per_period(dt, period)[0]] * T


def test_holds_follow_the_seconds_not_the_step_count():
    # a spike at the end of a 1 ms step blocks 4 ms: three more 1 ms steps, or one 3 ms step, stay blocked
    steps = torch.tensor([1e-3, 1e-3, 1e-3, 1e-3, 1e-3, 3e-3, 1e-3, 1e-3], dtype=torch.float64)
    holds = holds_for_steps(steps, 4e-3).tolist()
    assert holds[0] == 3       # steps 1, 2, 3 (ends 1, 2, 3 ms after) are blocked; step 4 ends 4 ms after
    assert holds[3] == 1       # the next step (3 ms) ends 3 ms after: blocked; the one after ends 4 ms after
    rule = rule_for_steps(torch.tensor([1e-3, 8e-3, 2e-3], dtype=torch.float64), 4e-3)
    assert isinstance(rule, StepwiseSpike) and rule.caps.tolist() == [0, 2, 0]  # 8 ms step: bursts of two


@pytest.mark.parametrize("bad, message", [
    (torch.tensor([1e-3, 0.0, 1e-3]), "> 0"),
    (torch.tensor([1e-3, -1e-3, 1e-3]), "> 0"),
    (torch.tensor([1e-3, float("nan"), 1e-3]), "finite"),
    (torch.tensor([1e-3, float("inf"), 1e-3]), "finite"),
    (torch.full((4,), 1e-3), "T = 3"),
    (torch.full((3, 5), 1e-3), "batch of 2"),
    (torch.full((3, 2, 1), 1e-3), r"\[T\] or \[T, B\]"),
    ("zero", "duration"),
])
def test_bad_clocks_are_refused_with_a_clear_error(bad, message):
    x = torch.rand(3, 2, 4)
    with pytest.raises(ValueError, match=message):
        LIF(4, dt=1e-3)(x, dt=bad)
    if isinstance(bad, torch.Tensor) and bad.dim() == 1 and bad.numel() == 3:
        with pytest.raises(ValueError, match=message):
            with clock(bad):
                pass


def test_check_steps_names_the_step():
    with pytest.raises(ValueError, match="step 1 \\(sample 0\\)"):
        check_steps(torch.tensor([[1e-3], [-1.0]]))
    assert constant_step(torch.full((5,), 2e-3)) == pytest.approx(2e-3)
    assert constant_step(torch.tensor([1e-3, 2e-3])) is None


def test_per_sample_clocks_equal_one_sample_at_a_time():
    g = torch.Generator().manual_seed(3)
    layer = AdLIF(7, dt=4e-3)
    x = 3 * torch.rand(20, 4, 7, generator=g)
    steps = 1e-3 + 6e-3 * torch.rand(20, 4, generator=g, dtype=torch.float64)
    V = 0.3 * torch.randn(7, 7, generator=g)
    together = layer(x, dt=steps, recurrent_weight=V)
    alone = torch.cat([layer(x[:, b:b + 1], dt=steps[:, b], recurrent_weight=V) for b in range(4)], dim=1)
    assert torch.equal(together, alone)


def test_frozen_neurons_follow_a_clock_through_their_exact_change_of_step():
    layer = AdLIF(5, dt=2e-3)
    frozen = SSMNeuron.from_layer(layer)
    steps = torch.tensor([1e-3, 3e-3, 0.5e-3, 2e-3], dtype=torch.float64)
    a, b = layer.ssm(dt=steps), frozen.ssm(dt=steps)
    torch.testing.assert_close(b.H, a.H.detach(), rtol=0, atol=1e-12)
    torch.testing.assert_close(b.B, a.B.detach(), rtol=0, atol=1e-12)


def test_time_reductions_weight_steps_by_their_length():
    x = torch.tensor([[1.0], [3.0]]).reshape(2, 1, 1)
    steps = torch.tensor([3e-3, 1e-3], dtype=torch.float64)
    with clock(steps, source_dt=1e-3):
        assert reduce_time(x, "mean").item() == pytest.approx((3 * 1 + 1 * 3) / 4)
        assert reduce_time(x, "sum").item() == pytest.approx(3 * 1 + 1 * 3)
        assert reduce_time(x, "max").item() == 3.0
    assert reduce_time(x, "mean").item() == 2.0  # no clock outside the block


def test_leaky_readout_on_a_clock_integrates_exactly():
    li = LeakyIntegrator(1, tau=10e-3, dt=1e-3)
    steps = torch.tensor([1e-3, 4e-3], dtype=torch.float64)
    v = li(torch.ones(2, 1, 1), dt=steps).reshape(-1)
    a1, a2 = math.exp(-0.1), math.exp(-0.4)
    assert v[0].item() == pytest.approx(1 - a1, rel=1e-6)
    assert v[1].item() == pytest.approx(a2 * (1 - a1) + (1 - a2), rel=1e-6)


def test_irregular_steps_train_through_the_fused_kernels():
    layer = LIF(6, dt=1e-3)
    x = 2 * torch.rand(15, 3, 6)
    steps = 0.5e-3 + 2e-3 * torch.rand(15, dtype=torch.float64)
    out = layer(x, dt=steps)
    out.sum().backward()
    assert layer.tau.raw.grad is not None and torch.isfinite(layer.tau.raw.grad).all()
    assert isinstance(layer.rule_on(steps), (StepwiseSpike, BinarySpike))


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(["lif", "adlif"]), st.integers(2, 4), st.integers(1, 12), st.booleans(), st.integers(0, 999))
def test_substeps_run_the_layer_at_its_own_step_with_the_drive_held(kind, k, T, recurrent, seed):
    """On a clock of steps k·dt with sub-steps, a layer is its plain self on the drive repeated k times, its
    spikes summed per step: its dynamics keep the resolution it was trained at."""
    g = torch.Generator().manual_seed(seed)
    layer = (LIF if kind == "lif" else AdLIF)(6, dt=2e-3)
    x = 2 * torch.rand(T, 3, 6, generator=g)
    V = 0.4 * torch.randn(6, 6, generator=g) if recurrent else None
    with clock(torch.full((T,), k * 2e-3, dtype=torch.float64), substeps=True):
        coarse = layer(x, recurrent_weight=V)
    fine = layer(torch.repeat_interleave(x, k, dim=0), recurrent_weight=V)
    assert torch.equal(coarse, fine.reshape(T, k, 3, 6).sum(1))
    # steps no longer than the layer's own are not sub-stepped
    with clock(torch.full((T,), 2e-3, dtype=torch.float64), substeps=True):
        assert torch.equal(layer(x, recurrent_weight=V), layer(x, recurrent_weight=V, dt=2e-3))


def test_substep_plan_splits_only_long_steps():
    from adaspike.core.clock import substep_plan
    assert substep_plan(torch.tensor([1e-3, 2e-3], dtype=torch.float64), 2e-3) is None
    k, sub = substep_plan(torch.tensor([1e-3, 5e-3, 4e-3], dtype=torch.float64), 2e-3)
    assert k.tolist() == [1, 3, 2] and sub.tolist() == pytest.approx([1e-3] + [5e-3 / 3] * 3 + [2e-3] * 2)
