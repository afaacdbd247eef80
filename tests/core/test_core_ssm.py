"""The SSM form against the plain recurrences, and discretisation against the exact ODE solution."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy.integrate import solve_ivp
from scipy.linalg import expm

from adaspike.core import (AdLIFParams, CubaLIFParams, IFParams, LIFParams, adlif_discrete, cuba_lif_discrete,
                           lif_discrete, scan)
from adaspike.core.spikes import BinarySpike
from adaspike.core.surrogates import FastSigmoid



@pytest.fixture(autouse=True)
def float64_default():
    # these comparisons are at 1e-12: float64 here only, restored so other test modules are unaffected
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def plain_adlif(I, alpha, beta, a, b, theta=1.0):
    """Bittar & Garner adLIF written out as the papers do (no matrices)."""
    T, B, N = I.shape
    u = torch.zeros(B, N)
    w = torch.zeros(B, N)
    s = torch.zeros(B, N)
    out = []
    for t in range(T):
        w = beta * w + a * u + b * s
        u = alpha * (u - theta * s) + (1 - alpha) * (I[t] - w)
        s = (u >= theta).double()
        out.append(s)
    return torch.stack(out)


def plain_lif(I, alpha, theta=1.0, reset="subtract"):
    v = torch.zeros(I.shape[1:])
    s = torch.zeros(I.shape[1:])
    out = []
    for t in range(I.shape[0]):
        if reset == "subtract":
            v = v - theta * s
        elif reset == "zero":
            v = v * (1 - s)
        v = alpha * v + (1 - alpha) * I[t]
        s = (v >= theta).double()
        out.append(s)
    return torch.stack(out)


@pytest.mark.slow
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_ssm_form_reproduces_plain_adlif_spikes_included(seed):
    g = torch.Generator().manual_seed(seed)
    N = 16
    alpha = torch.empty(N).uniform_(math.exp(-1 / 5), math.exp(-1 / 25), generator=g)
    beta = torch.empty(N).uniform_(math.exp(-1 / 30), math.exp(-1 / 120), generator=g)
    a = torch.empty(N).uniform_(-1, 1, generator=g)
    b = torch.empty(N).uniform_(0, 2, generator=g)
    I = torch.rand(300, 3, N, generator=g) * 4
    # a < 0 can make H unstable (spectral radius > 1); rounding then grows without bound in any implementation
    unstable = adlif_discrete(alpha, beta, a, b).spectral_radius() >= 1
    a = torch.where(unstable, a.abs(), a)
    ssm = adlif_discrete(alpha, beta, a, b, dt=1e-3)
    assert bool((ssm.spectral_radius() < 1).all())
    out = scan(I, ssm, return_states=True, backend="reference")
    ref = plain_adlif(I, alpha, beta, a, b)
    assert torch.equal(out.spikes, ref)
    assert out.spikes.sum() > 0


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_ssm_form_reproduces_plain_lif(reset):
    g = torch.Generator().manual_seed(1)
    alpha = torch.empty(32).uniform_(0.5, 0.99, generator=g)
    I = torch.rand(200, 4, 32, generator=g) * 5
    out = scan(I, lif_discrete(alpha, dt=1e-3), reset=reset, backend="reference")
    assert torch.equal(out.spikes, plain_lif(I, alpha, reset=reset))


def test_adlif_reset_matrix_matches_spec():
    alpha, beta, a, b = 0.9, 0.98, 0.3, 0.7
    ssm = adlif_discrete(alpha, beta, a, b)
    H = torch.tensor([[alpha - (1 - alpha) * a, -(1 - alpha) * beta], [a, beta]])
    R = torch.tensor([-(alpha + (1 - alpha) * b), b])
    assert torch.allclose(ssm.H, H, atol=1e-15)
    assert torch.allclose(ssm.reset_matrix(), R, atol=1e-15)
    assert math.isclose(float(torch.linalg.det(ssm.H)), alpha * beta, rel_tol=1e-12)


@settings(max_examples=30, deadline=None)
@given(tau=st.floats(1e-3, 1.0), dt=st.floats(1e-5, 0.1))
def test_zoh_lif_decay_is_exp(tau, dt):
    ssm = LIFParams(tau=tau).discretise(dt)
    alpha = math.exp(-dt / tau)
    assert math.isclose(float(ssm.H[0, 0]), alpha, rel_tol=1e-12)
    assert math.isclose(float(ssm.B[0]), 1 - alpha, rel_tol=1e-9, abs_tol=1e-15)
    # LIF reset follows the decay: R = -α θ
    assert math.isclose(float(ssm.reset_matrix()[0]), -alpha, rel_tol=1e-12)


CONTINUOUS_MODELS = [
    LIFParams(tau=15e-3),
    IFParams(gain=200.0),
    CubaLIFParams(tau_syn=5e-3, tau_mem=20e-3),
    CubaLIFParams(tau_syn=10e-3, tau_mem=10e-3),  # defective H: the repeated-eigenvalue branch
    AdLIFParams(tau_u=10e-3, tau_w=100e-3, a=0.6, b=0.3),
    AdLIFParams(tau_u=20e-3, tau_w=30e-3, a=-0.9, b=0.3),  # complex pair
]


@pytest.mark.parametrize("model", CONTINUOUS_MODELS, ids=lambda m: type(m).__name__)
def test_zoh_matches_exact_ode_solution_for_piecewise_constant_input(model):
    cont = model.continuous()
    A, Bc = cont.A.numpy(), cont.Bc.numpy()
    dt = 2e-3
    ssm = cont.discretise(dt, "zoh")
    assert np.allclose(ssm.H.numpy(), expm(A * dt), atol=1e-13)
    rng = np.random.default_rng(0)
    drive = rng.uniform(-1, 2, size=40)
    x = np.zeros(A.shape[0])
    for k, level in enumerate(drive):
        sol = solve_ivp(lambda t, y: A @ y + Bc * level, (0, dt), x, rtol=1e-12, atol=1e-14, method="DOP853")
        x_exact = sol.y[:, -1]
        x = ssm.H.numpy() @ x + ssm.B.numpy() * level
        assert np.allclose(x, x_exact, atol=1e-10), k


@pytest.mark.parametrize("model", CONTINUOUS_MODELS, ids=lambda m: type(m).__name__)
def test_euler_and_bilinear_converge_to_zoh(model):
    cont = model.continuous()
    errors = {}
    for method in ("euler", "bilinear"):
        errs = []
        for dt in (1e-3, 5e-4):
            z = cont.discretise(dt, "zoh")
            d = cont.discretise(dt, method)
            errs.append(float((d.H - z.H).abs().max()))
        errors[method] = errs
    # Euler is first order per step (error ~ dt^2), bilinear third order (~ dt^3)
    assert errors["euler"][1] <= errors["euler"][0] / 3.5 + 1e-16
    assert errors["bilinear"][1] <= errors["bilinear"][0] / 7 + 1e-16


def test_cuba_discrete_form():
    ssm = cuba_lif_discrete(0.8, 0.9)
    I = torch.zeros(5, 1, 1)
    I[0] = 1.0
    out = scan(I, ssm, return_states=True, backend="reference")
    i_expected = [1.0, 0.8, 0.64]
    v_expected = [1.0, 0.9 + 0.8, 0.9 * 1.7 + 0.64]
    assert torch.allclose(out.states[:3, 0, 0, 0], torch.tensor(i_expected))
    # v crosses threshold at step 0 (v = 1 >= 1): then it is reset by subtraction before decay
    assert out.spikes[0, 0, 0] == 1
    assert torch.allclose(out.states[1, 0, 0, 1], torch.tensor(0.9 * (1.0 - 1.0) + 0.8 * 1.0 + 0))


def smooth_spike(v, threshold):
    # a differentiable stand-in for the step, so finite differences can check the whole recursion
    return torch.sigmoid(4.0 * (v - threshold))


@pytest.mark.slow
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_scan_gradcheck_float64(reset):
    torch.manual_seed(0)
    I = (torch.rand(12, 2, 3) * 2).requires_grad_()
    tau = torch.tensor([0.01, 0.02, 0.05], requires_grad=True)
    V = (torch.randn(3, 3) * 0.3).requires_grad_()

    def f(I, tau, V):
        ssm = AdLIFParams(tau_u=tau, tau_w=0.1, a=0.3, b=0.2).discretise(4e-3)
        out = scan(I, ssm, reset=reset, spike_fn=smooth_spike, recurrent_weight=V, return_states=True,
                   backend="reference")
        return out.states.sum(-1) + out.spikes

    assert torch.autograd.gradcheck(f, (I, tau, V), eps=1e-6, atol=1e-6)


def test_surrogate_gradient_reaches_input_through_spikes():
    I = (torch.rand(10, 2, 3) * 2).requires_grad_()
    out = scan(I, lif_discrete(torch.full((3,), 0.8)), spike_fn=BinarySpike(FastSigmoid(5.0)))
    (grad,) = torch.autograd.grad(out.spikes.sum(), I)
    assert grad.abs().sum() > 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from([0, 1, 2, 3]), max_size=4), min_size=1, max_size=4))
def test_broadcast_shape_matches_torch(shapes):
    from adaspike.core.ssm import broadcast_shape

    try:
        expected = torch.broadcast_shapes(*shapes)
    except RuntimeError:
        with pytest.raises(RuntimeError):
            broadcast_shape(*shapes)
        return
    assert broadcast_shape(*shapes) == expected
