"""One stability check after every retime method (tau included), and the refusal of time-step-adaptive neurons."""
import math
import warnings

import pytest
import torch
from torch import nn

from adaspike.core import adlif_discrete, lif_discrete
from adaspike.core.linalg import spectral_radius
from adaspike.layers import IF, LIF, AdLIF, SpikingLayer
from adaspike.layers.adaptive import PerStepLIF
from adaspike.retime import RetimeError, adapt_ssm, retime, retime_layer, to_ssm
from adaspike.retime import maps as maps_module
from adaspike.retime import neurons as neurons_module
from adaspike.retime.maps import check_stability

f64 = torch.float64
METHODS = ("tau", "zoh", "euler", "bilinear")


def _adlif(n=4, dt=1e-3, *, tau_u_steps, tau_w_steps, a):
    """A sparch-style (per-step) adLIF with the given decays in steps and coupling a, b = 0."""
    return AdLIF(n, dt=dt, parameterisation="discrete", tau_u=tau_u_steps * dt, tau_w=tau_w_steps * dt, a=a, b=0.0)


def _model(neuron, n_in=3):
    features = neuron.shape[0] if neuron.shape else 1
    return nn.Sequential(SpikingLayer(nn.Linear(n_in, features), neuron))


# ---- the check itself -----------------------------------------------------------------------------------------

def test_relative_rule_raise_warn_ignore():
    H_S = torch.tensor([[[0.5]], [[0.9]]], dtype=f64)
    H_T = torch.tensor([[[0.5]], [[1.2]]], dtype=f64)  # neuron 1 goes from 0.9 to 1.2: a new instability
    with pytest.raises(RetimeError, match=r"layer\.x: method 'euler' at ρ = 2 makes 1 of 2 neuron\(s\) unstable "
                                          r"\(largest \|eig\(H_T\)\| = 1\.2\)"):
        check_stability(H_S, H_T, 2.0, name="layer.x", method="euler", mode="raise")
    with pytest.warns(RuntimeWarning, match=r"layer\.x.*1 of 2 neuron\(s\) unstable"):
        check_stability(H_S, H_T, 2.0, name="layer.x", method="euler", mode="warn")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_stability(H_S, H_T, 2.0, name="layer.x", method="euler", mode="ignore")
    with pytest.raises(ValueError, match="unstable must be one of"):
        check_stability(H_S, H_T, 2.0, mode="loud")


def test_radius_at_least_one_inherited_from_the_source_warns_but_never_raises():
    # source radius 1.1: an exact map gives 1.1^ρ; 1.05 (ρ = 1/2) does not exceed max(r_S, r_S^ρ) = 1.1
    H_S = torch.tensor([[[1.1]], [[0.5]], [[1.1]]], dtype=f64)
    H_T = torch.tensor([[[1.05]], [[0.7]], [[1.02]]], dtype=f64)
    for mode in ("raise", "warn"):
        with pytest.warns(RuntimeWarning) as record:
            check_stability(H_S, H_T, 0.5, name="hidden.0.neuron", method="tau", mode=mode)
        message = str(record[0].message)
        assert "hidden.0.neuron" in message and "2 of 3 neuron(s)" in message and "largest 1.05" in message
        assert "source already had 2 neuron(s)" in message
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_stability(H_S, H_T, 0.5, name="x", method="tau", mode="ignore")


def test_marginal_integrators_are_not_flagged():
    one = torch.ones(3, 1, 1, dtype=f64)  # IF: H = 1 at every step size
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_stability(one, one, 4.0, name="if", method="zoh")
        for method in METHODS:
            retime(_model(IF(3, dt=1e-3)), ratio=4.0, method=method)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("rho", [0.25, 0.5, 2.0])
def test_stable_lif_is_quiet_under_every_method(method, rho):
    model = _model(LIF(5, dt=1e-3, tau=torch.linspace(5e-3, 50e-3, 5)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = retime(model, ratio=rho, method=method)
    assert float(spectral_radius(to_ssm(out[0].neuron).H).max()) < 1


# ---- every method goes through the same function ---------------------------------------------------------------

@pytest.mark.parametrize("method", METHODS)
def test_one_check_per_layer_for_every_method(method, monkeypatch):
    calls = []
    real = maps_module.check_stability

    def spy(H_S, H_T, rho, **kw):
        if kw.get("mode", "raise") != "ignore":
            calls.append((kw.get("name"), kw.get("method")))
        return real(H_S, H_T, rho, **kw)

    monkeypatch.setattr(maps_module, "check_stability", spy)
    monkeypatch.setattr(neurons_module, "check_stability", spy)
    model = nn.Sequential(SpikingLayer(nn.Linear(3, 4), LIF(4, dt=2e-3)),
                          SpikingLayer(nn.Linear(4, 2), _adlif(2, dt=2e-3, tau_u_steps=10, tau_w_steps=60, a=0.5)))
    retime(model, ratio=0.5, method=method)
    assert calls == [("0.neuron", method), ("1.neuron", method)]
    calls.clear()
    retime(model, ratio=1.0, method=method)  # ρ = 1 is an exact copy: nothing to check
    retime(model, ratio=0.5, method="none")
    assert calls == []


# ---- tau ------------------------------------------------------------------------------------------------------

def test_tau_new_instability_is_refused_or_warned():
    # α = e^{-1/15}, β = e^{-1/35}, a = −0.02: radius < 1 at Δ_S, but α^ρ, β^ρ with a, b kept gives radius > 1
    layer = _adlif(1, tau_u_steps=15, tau_w_steps=35, a=-0.02)
    r_S = float(spectral_radius(to_ssm(layer).H))
    assert r_S < 1
    with pytest.raises(RetimeError, match=r"0\.neuron: method 'tau' at ρ = 0\.5 makes 1 of 1 neuron\(s\) unstable"):
        retime(_model(layer), ratio=0.5, method="tau")
    with pytest.warns(RuntimeWarning, match=r"0\.neuron: method 'tau'.*unstable.*method='zoh'"):
        out = retime(_model(layer), ratio=0.5, method="tau", unstable="warn")
    assert float(spectral_radius(to_ssm(out[0].neuron).H)) >= 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        retime(_model(layer), ratio=0.5, method="tau", unstable="ignore")
        zoh = retime(_model(layer), ratio=0.5, method="zoh")  # the exact map keeps r^ρ < 1
    assert float(spectral_radius(to_ssm(zoh[0].neuron).H)) == pytest.approx(r_S ** 0.5, rel=1e-9)


def test_tau_on_a_source_that_already_has_radius_above_one_warns_with_the_count():
    # a < 0 (allowed in sparch's range) gives the source itself radius > 1, like a trained adLIF at 1.088
    torch.manual_seed(0)
    a = torch.tensor([-0.9, -0.9, -0.9, 0.5, 0.5, 0.5, 0.5, 0.5])
    layer = AdLIF(8, dt=4e-3, parameterisation="discrete", tau_u=24e-3, tau_w=290e-3, a=a, b=0.0)
    r_S = spectral_radius(to_ssm(layer).H)
    assert int((r_S >= 1).sum()) == 3
    for unstable in ("raise", "warn"):
        with pytest.warns(RuntimeWarning) as record:
            out = retime(_model(layer), ratio=2.0, method="tau", unstable=unstable)
        r_T = spectral_radius(to_ssm(out[0].neuron).H)
        messages = [str(w.message) for w in record if "spectral radius" in str(w.message)]
        assert len(messages) == 1
        assert "0.neuron" in messages[0] and "3 of 8 neuron(s)" in messages[0]
        assert f"largest {float(r_T.max()):.6g}" in messages[0]


@pytest.mark.parametrize("method", ("zoh", "euler", "bilinear"))
def test_inherited_radius_warns_after_the_maps_too(method):
    layer = _adlif(2, tau_u_steps=24, tau_w_steps=100, a=-0.9)
    assert bool((spectral_radius(to_ssm(layer).H) >= 1).all())
    with pytest.warns(RuntimeWarning, match=r"0\.neuron: after method '" + method + r"'.*2 of 2 neuron\(s\)"):
        retime(_model(layer), ratio=0.5, method=method)


def test_bilinear_is_checked_as_well():
    # a source at radius ≈ 1.35: bilinear at ρ = 2 goes past r_S^ρ, zoh lands exactly on it
    layer = AdLIF(3, dt=4e-3, parameterisation="discrete", tau_u=24e-3, tau_w=290e-3, a=-0.9, b=0.0)
    with pytest.raises(RetimeError, match=r"0\.neuron: method 'bilinear' at ρ = 2 makes 3 of 3"):
        retime(_model(layer), ratio=2.0, method="bilinear")
    with pytest.warns(RuntimeWarning, match="after method 'zoh'"):
        retime(_model(layer), ratio=2.0, method="zoh")


def test_adapt_ssm_still_checks_on_its_own():
    alpha = math.exp(-1 / 5)
    src = lif_discrete(torch.tensor([alpha], dtype=f64))
    with pytest.raises(RetimeError, match=r"hidden: method 'euler'.*unstable.*2/\(1−λ\)"):
        adapt_ssm(src, 2.1 / (1 - alpha), "euler", name="hidden")
    with pytest.raises(ValueError, match="unstable must be one of"):
        adapt_ssm(src, 0.5, "zoh", unstable="sometimes")
    inherited = adlif_discrete(torch.tensor([math.exp(-1 / 25)], dtype=f64), math.exp(-1 / 120), -1.0, 0.0)
    with pytest.warns(RuntimeWarning, match="1 of 1 neuron"):
        adapt_ssm(inherited, 0.5, "bilinear")


# ---- time-step-adaptive neurons --------------------------------------------------------------------------------

def _asnn():
    torch.manual_seed(0)
    return nn.Sequential(SpikingLayer(nn.Linear(3, 4), PerStepLIF(6, channels=4, granularity="channel")))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("rho", [0.5, 2.0])
def test_adaptive_lif_is_refused_by_name(method, rho):
    model = _asnn()
    with pytest.raises(RetimeError, match=r"0\.neuron: cannot retime PerStepLIF with method '" + method
                       + r"'.*time-step-adaptive.*indexed by step.*no continuous-time model to re-discretise"):
        retime(model, ratio=rho, method=method)
    with pytest.raises(RetimeError, match="PerStepLIF"):
        retime_layer(model[0].neuron, rho, method, name="asnn", structure_only=True)
    with pytest.raises(RetimeError, match="PerStepLIF"):
        retime(model, ratio=rho, method=method, unstable="ignore")


def test_adaptive_lif_is_kept_under_none_and_at_ratio_one():
    model = _asnn()
    x = torch.rand(6, 2, 3)
    for method in METHODS:
        same = retime(model, ratio=1.0, method=method)
        assert isinstance(same[0].neuron, PerStepLIF) and torch.equal(same(x), model(x))
    baseline = retime(model, ratio=0.5, method="none")  # the no-adaptation baseline: the same per-step neuron
    assert isinstance(baseline[0].neuron, PerStepLIF)
