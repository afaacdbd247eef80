"""dt has one owner (parse_time/check_dt), explicit Euler refuses unstable steps, scan refuses NaN state/weights."""
from __future__ import annotations

import math
import warnings

import pytest
import torch
from hypothesis import given, settings, strategies as st

from adaspike.core import parse_time, scan
from adaspike.core.neurons import AdLIFParams, CubaLIFParams, IFParams, LIFParams
from adaspike.core.multistep import NeuronState
from adaspike.core.units import DEFAULT_BIN_DT, DEFAULT_DT, check_dt
from adaspike.layers import AdLIF, LIF


# ---- dt --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,seconds", [("4ms", 4e-3), ("250us", 250e-6), ("0.004", 4e-3), (0.004, 4e-3),
                                          ("1e-3", 1e-3), ("2 s", 2.0), (torch.tensor(4e-3), 4e-3)])
def test_parse_time_units_and_floats(text, seconds):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isclose(parse_time(text), seconds, rel_tol=1e-6)


@pytest.mark.parametrize("bad", [0, -1e-3, float("nan"), float("inf"), "0ms", "nan", "inf", "4 parsecs", "",
                                 None, [4e-3], True])
def test_dt_refused(bad):
    with pytest.raises(ValueError, match="dt"):
        parse_time(bad)
    with pytest.raises(ValueError, match="dt"):
        check_dt(bad) if not isinstance(bad, bool) else parse_time(bad)


@pytest.mark.parametrize("bare", [4, 4.0, "4", "1"])
def test_bare_number_of_seconds_warns_in_api_and_errors_on_cli(bare):
    with pytest.warns(UserWarning, match="without a unit means"):
        assert parse_time(bare) == float(bare)
    with pytest.raises(ValueError, match="without a unit means"):
        parse_time(bare, strict=True)
    parse_time(f"{bare}s", strict=True)  # an explicit unit confirms seconds


def test_layers_accept_strings_and_floats_alike():
    assert LIF(3, dt="4ms").dt == LIF(3, dt=4e-3).dt == 4e-3
    with pytest.warns(UserWarning, match="without a unit"):
        LIF(3, dt=4)
    with pytest.raises(ValueError, match="dt"):
        LIF(3, dt="4 parsecs")


def test_default_dt_constants_are_the_defaults():
    assert LIF(2).dt == DEFAULT_DT and AdLIF(2).dt == DEFAULT_DT
    from adaspike.data.wav_folder import WavFolderDataset
    import inspect
    assert inspect.signature(WavFolderDataset).parameters["dt"].default == DEFAULT_BIN_DT


# ---- explicit Euler stability --------------------------------------------------------------------------------
@pytest.mark.parametrize("params", [LIFParams(), CubaLIFParams(), AdLIFParams()], ids=["lif", "cuba", "adlif"])
def test_euler_at_large_dt_is_refused(params):
    with pytest.raises(ValueError, match="euler discretisation at dt = 1 s is unstable"):
        params.discretise(1.0, "euler")
    # the exact and the A-stable methods stay finite and stable at the same dt
    for method in ("zoh", "bilinear"):
        assert float(params.discretise(1.0, method).spectral_radius().max()) <= 1.0 + 1e-9


@settings(max_examples=60, deadline=None)
@given(tau=st.floats(1e-3, 1.0), ratio=st.floats(0.01, 10.0))
def test_euler_lif_refused_exactly_beyond_two_tau(tau, ratio):
    """|1 − dt/τ| ≥ 1  ⇔  dt ≥ 2τ: refused exactly there, accepted below (with a 1e-6 margin for rounding)."""
    dt = ratio * tau
    if abs(ratio - 2.0) < 1e-6:
        return
    if ratio > 2.0:
        with pytest.raises(ValueError, match="unstable"):
            LIFParams(tau=tau).discretise(dt, "euler")
    else:
        H = LIFParams(tau=tau).discretise(dt, "euler").H
        assert math.isclose(float(H.flatten()[0]), 1 - ratio, rel_tol=1e-9, abs_tol=1e-12)


def test_euler_integrator_is_marginal_not_refused():
    assert float(IFParams().discretise(10.0, "euler").H.flatten()[0]) == 1.0


def test_adlif_layer_euler_huge_dt_refused_before_running():
    layer = AdLIF(4, dt="1000000s", method="euler")
    with pytest.raises(ValueError, match="unstable"):
        layer(torch.ones(3, 1, 4))


# ---- scan: NaN state / recurrent weight ------------------------------------------------------------------------
def _ssm(n=4):
    return LIFParams(tau=torch.full((n,), 20e-3)).discretise(1e-3)


@pytest.mark.parametrize("backend", ["reference", "auto"])
@pytest.mark.parametrize("what", ["state-x", "state-s", "recurrent", "recurrent-inf"])
def test_scan_refuses_non_finite_state_or_weight(backend, what):
    from adaspike.core import available_backends

    current = torch.rand(5, 2, 4)
    x, s = torch.zeros(2, 4, 1), torch.zeros(2, 4)
    weight = torch.zeros(4, 4)
    if what == "state-x":
        x[0, 1, 0] = float("nan")
    elif what == "state-s":
        s[1, 2] = float("nan")
    elif what == "recurrent":
        weight[2, 3] = float("nan")
    else:
        weight[0, 0] = float("inf")
    names = {"state-x": "initial state x", "state-s": "initial spikes s"}.get(what, "recurrent_weight")
    for name in ([backend] if backend == "reference" else available_backends()):
        with pytest.raises(ValueError, match=f"{names} contains NaN or Inf"):
            scan(current, _ssm(), state=NeuronState(x, s), recurrent_weight=weight, backend=name)


def test_scan_finite_state_unchanged():
    current = torch.rand(5, 2, 4) * 100
    out = scan(current, _ssm(), state=NeuronState(torch.zeros(2, 4, 1), torch.zeros(2, 4)),
               recurrent_weight=torch.eye(4) * 0.1, backend="reference")
    assert out.spikes.sum() > 0


# ---- API options out of range --------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,fragment", [({"hidden": [0]}, "hidden"), ({"hidden": [-5]}, "hidden"),
                                             ({"hidden": "16"}, "hidden"), ({"classes": 0}, "classes")])
def test_model_sizes_refused(kwargs, fragment):
    from adaspike.models import build_model

    with pytest.raises(ValueError, match=fragment):
        build_model("snn", **{"input_shape": [20], "classes": 4, "hidden": [8], **kwargs})


@pytest.mark.parametrize("method", ["none", "zoh"])
def test_retime_unstable_mode_checked_even_when_no_map_runs(method):
    from adaspike.models import build_model
    from adaspike.retime import retime

    model = build_model("snn", input_shape=[20], classes=4, hidden=[8])
    with pytest.raises(ValueError, match="unstable must be one of"):
        retime(model, dt="4ms", method=method, unstable="bogus")
