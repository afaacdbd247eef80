"""Spec retime.md §8: identity, group/inverse, k-step consistency, direction, stability, golden values."""
import math
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from adaspike.core import AdLIFParams, CubaLIFParams, adlif_discrete, cuba_lif_discrete, if_discrete, lif_discrete
from adaspike.core.linalg import spectral_radius
from adaspike.retime import RetimeError, adapt_ssm

MAPS = ("zoh", "euler", "bilinear")
f64 = torch.float64

# sparch adLIF clamp ranges (spec §3.2)
alphas = st.floats(math.exp(-1 / 5), math.exp(-1 / 25))
betas = st.floats(math.exp(-1 / 30), math.exp(-1 / 120))
coupling = st.floats(-1.0, 1.0)
jumps = st.floats(0.0, 2.0)
ratios = st.sampled_from([0.25, 1 / 3, 0.5, 0.8, 1.5, 2.0, 3.0])


def adlif(alpha, beta, a, b):
    return adlif_discrete(torch.tensor([alpha], dtype=f64), beta, a, b)


def assert_close(x, y, tol=1e-12):
    err = float((x - y).abs().max())
    assert err <= tol * max(1.0, float(y.abs().max())), err


@pytest.mark.parametrize("method", MAPS)
def test_identity_is_bit_exact(method):
    ssm = adlif_discrete(torch.tensor([0.9, 0.85], dtype=f64), 0.99, torch.tensor([0.3, -0.5]), 1.0)
    out = adapt_ssm(ssm, 1.0, method)
    for name in ("H", "B", "kick_reset", "kick_spike", "threshold"):
        assert torch.equal(getattr(out, name), getattr(ssm, name))
    assert out.H is not ssm.H


@settings(max_examples=25, deadline=None)
@given(alphas, betas, coupling, jumps, ratios, ratios, st.sampled_from(MAPS))
def test_group_and_inverse(alpha, beta, a, b, r1, r2, method):
    src = adlif(alpha, beta, a, b)
    twice = adapt_ssm(adapt_ssm(src, r1, method, unstable="ignore"), r2, method, unstable="ignore")
    once = adapt_ssm(src, r1 * r2, method, unstable="ignore")
    assert_close(twice.H, once.H)
    assert_close(twice.B, once.B)
    back = adapt_ssm(adapt_ssm(src, r1, method, unstable="ignore"), 1 / r1, method, unstable="ignore")
    assert_close(back.H, src.H)
    assert_close(back.B, src.B)
    assert torch.equal(once.kick_reset, src.kick_reset) and torch.equal(once.threshold, src.threshold)


def test_golden_values():
    src = lif_discrete(torch.tensor([0.9], dtype=f64), gain=0.1)
    expected = {"zoh": (0.948683, 0.051317), "bilinear": (0.948718, 0.051282), "euler": (0.95, 0.05)}
    for method, (alpha, gain) in expected.items():
        out = adapt_ssm(src, 0.5, method)
        assert float(out.H) == pytest.approx(alpha, abs=5e-7)
        assert float(out.B) == pytest.approx(gain, abs=5e-7)


@pytest.mark.parametrize("method", MAPS)
def test_lif_reset_follows_the_new_decay(method):
    out = adapt_ssm(lif_discrete(torch.tensor([0.8, 0.95], dtype=f64)), 0.25, method)
    assert torch.allclose(out.reset_matrix()[..., 0], -out.H[..., 0, 0], atol=0, rtol=0)


@pytest.mark.parametrize("k", [2, 3, 4])
def test_zoh_k_step_consistency(k):
    for src in (adlif(0.9, 0.99, -0.7, 1.0), adlif(0.82, 0.97, 0.9, 0.0),
                cuba_lif_discrete(torch.tensor([0.9], dtype=f64), 0.9)):  # the last one is defective
        H_T = adapt_ssm(src, 1 / k, "zoh").H
        assert_close(torch.linalg.matrix_power(H_T, k), src.H, 1e-12)


def test_euler_first_order_and_bilinear_third_order():
    params = AdLIFParams(tau_u=20e-3, tau_w=150e-3, a=0.4, b=0.5)
    err_euler, err_bilinear = [], []
    for dt in (4e-3, 2e-3, 1e-3):
        src = params.discretise(dt)
        zoh = adapt_ssm(src, 0.5, "zoh")
        err_euler.append(float((adapt_ssm(src, 0.5, "euler").H - zoh.H).abs().max()))
        err_bilinear.append(float((adapt_ssm(src, 0.5, "bilinear").H - zoh.H).abs().max()))
    for e in (err_euler, err_bilinear):
        assert e[0] > e[1] > e[2] > 0
    assert err_euler[0] / err_euler[1] > 3  # O(Δ²) per step: first-order agreement
    assert err_bilinear[0] / err_bilinear[1] > 6  # O(Δ³)


def test_if_uses_g_of_one():
    src = if_discrete(gain=0.3)
    for rho in (0.5, 3.0):
        out = adapt_ssm(src, rho, "zoh")
        assert float(out.H) == 1.0 and float(out.B) == pytest.approx(0.3 * rho, rel=1e-15)


@settings(max_examples=25, deadline=None)
@given(alphas, betas, st.floats(0.0, 1.0), jumps, st.floats(0.25, 8.0))
def test_zoh_and_bilinear_preserve_stability(alpha, beta, a, b, rho):
    src = adlif(alpha, beta, a, b)
    assert float(spectral_radius(src.H)) < 1
    for method in ("zoh", "bilinear"):
        assert float(spectral_radius(adapt_ssm(src, rho, method).H)) < 1


@pytest.mark.parametrize("method", MAPS)
def test_finer_step_decays_less(method):
    alpha = torch.tensor([0.5, 0.8, 0.95], dtype=f64)
    out = adapt_ssm(lif_discrete(alpha), 0.5, method)
    assert bool((out.H[..., 0, 0] > alpha).all())
    src = adlif(0.85, 0.98, 0.5, 1.0)
    assert float(spectral_radius(adapt_ssm(src, 0.5, method).H)) > float(spectral_radius(src.H))


def test_euler_warns_then_raises_and_names_the_layer():
    alpha = math.exp(-1 / 5)
    src = lif_discrete(torch.tensor([alpha], dtype=f64))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        adapt_ssm(src, 0.9 / (1 - alpha), "euler")
    with pytest.warns(RuntimeWarning, match="oscillates"):
        adapt_ssm(src, 1.2 / (1 - alpha), "euler")
    with pytest.raises(RetimeError, match=r"hidden\.0.*unstable"):
        adapt_ssm(src, 2.1 / (1 - alpha), "euler", name="hidden.0")
    with pytest.warns(RuntimeWarning, match="unstable"):
        adapt_ssm(src, 2.1 / (1 - alpha), "euler", unstable="warn")


def test_euler_stability_is_relative_to_the_source():
    # a < 0 can make the source itself have radius >= 1 (spec §3.2); a mild step must not be flagged
    src = adlif(math.exp(-1 / 25), math.exp(-1 / 120), -1.0, 0.0)
    radius = float(spectral_radius(src.H))
    assert radius >= 1
    out = adapt_ssm(src, 0.5, "euler")
    assert float(spectral_radius(out.H)) <= max(radius, radius ** 0.5) + 1e-9


def test_zoh_rejects_negative_real_eigenvalues_by_name():
    src = lif_discrete(torch.tensor([0.5, -0.3], dtype=f64))
    with pytest.raises(RetimeError, match=r"readout.*negative real eigenvalue.*-0\.3"):
        adapt_ssm(src, 0.5, "zoh", name="readout")
    adapt_ssm(src, 0.5, "euler")  # euler always exists


def test_bilinear_rejects_minus_one():
    with pytest.raises(RetimeError, match="eigenvalue −1"):
        adapt_ssm(lif_discrete(torch.tensor([-1.0], dtype=f64)), 0.5, "bilinear", name="x")


def test_bad_arguments():
    src = lif_discrete(torch.tensor([0.9], dtype=f64))
    with pytest.raises(ValueError, match="ρ"):
        adapt_ssm(src, 0.0, "zoh")
    with pytest.raises(ValueError, match="unknown map"):
        adapt_ssm(src, 0.5, "magic")
    big = lif_discrete(torch.tensor([0.9], dtype=f64))
    big.H = torch.eye(3, dtype=f64)[None]
    big.B = torch.ones(1, 3, dtype=f64)
    big.kick_reset = big.kick_spike = torch.zeros(1, 3, dtype=f64)
    with pytest.raises(RetimeError, match="n ≤ 2"):
        adapt_ssm(big, 0.5, "zoh")


def test_continuous_models_retime_exactly_under_zoh():
    params = CubaLIFParams(tau_syn=torch.tensor([5e-3, 10e-3]), tau_mem=torch.tensor([10e-3, 10e-3]))
    src, exact = params.discretise(4e-3), params.discretise(1e-3)
    out = adapt_ssm(src, 0.25, "zoh")
    assert_close(out.H, exact.H, 1e-12)
    assert_close(out.B, exact.B, 1e-12)
