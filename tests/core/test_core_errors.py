"""Bad input gets a clear error."""
import math

import pytest
import torch

from adaspike.core import LIFParams, lif_discrete, parse_time, scan
from adaspike.layers import LIF, AdLIF, SSMNeuron


@pytest.mark.parametrize("dt", [0.0, -1e-3, float("nan"), float("inf")])
def test_bad_dt_rejected(dt):
    with pytest.raises(ValueError, match="dt"):
        LIFParams(tau=0.01).discretise(dt)
    with pytest.raises(ValueError, match="dt"):
        LIF(4, dt=dt)


@pytest.mark.parametrize("text,seconds", [("4ms", 4e-3), ("250us", 250e-6), ("0.004", 0.004), ("1s", 1.0),
                                          (0.002, 0.002)])
def test_parse_time(text, seconds):
    assert math.isclose(parse_time(text), seconds)


@pytest.mark.parametrize("text", ["-4ms", "four ms", "0ms", ""])
def test_parse_time_rejects(text):
    with pytest.raises(ValueError):
        parse_time(text)


def test_nonfinite_parameters_rejected():
    with pytest.raises(ValueError, match="NaN"):
        LIFParams(tau=float("nan"))
    with pytest.raises(ValueError, match="tau"):
        LIFParams(tau=-0.01)


def test_wrong_layout_names_expected_layout():
    layer = LIF(8, dt=1e-3)
    with pytest.raises(ValueError, match=r"\[T, B"):
        layer(torch.zeros(4, 8))
    with pytest.raises(ValueError, match=r"\[T, B, \*features\]"):
        layer(torch.zeros(10, 4, 7))


def test_nonfinite_input_rejected():
    x = torch.zeros(3, 2, 4)
    x[1, 0, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        scan(x, lif_discrete(torch.full((4,), 0.9)))


def test_bad_reset_and_state_shape():
    ssm = lif_discrete(torch.full((4,), 0.9))
    with pytest.raises(ValueError, match="reset"):
        scan(torch.zeros(3, 2, 4), ssm, reset="bogus")
    from adaspike.core import NeuronState
    with pytest.raises(ValueError, match="state"):
        scan(torch.zeros(3, 2, 4), ssm, state=NeuronState(torch.zeros(2, 4, 2), torch.zeros(2, 4)))


def test_ssm_neuron_at_another_dt_is_the_exact_zoh_change_of_step():
    """A frozen per-step neuron runs at another step by H^ρ, g(H)B: the continuous model discretised there."""
    layer = AdLIF(3, dt=1e-3)
    moved = SSMNeuron.from_layer(layer).ssm(dt=2e-3)
    direct = layer.ssm(dt=2e-3)
    torch.testing.assert_close(moved.H, direct.H.detach(), rtol=0, atol=1e-12)
    torch.testing.assert_close(moved.B, direct.B.detach(), rtol=0, atol=1e-12)


def test_ssm_neuron_without_a_real_power_refuses_other_dt():
    from adaspike.core import lif_discrete
    flipping = SSMNeuron(lif_discrete(torch.tensor([-0.5, 0.5]), dt=1e-3))  # a decay that flips sign each step
    with pytest.raises(ValueError, match="eigenvalue"):
        flipping.ssm(dt=2e-3)


@pytest.mark.parametrize("backend", ["reference", "numba"])
@pytest.mark.parametrize("spike_fn", ["binary", "burst"])
@pytest.mark.parametrize("neuron", ["lif", "adlif"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("where", [(0, 0, 0), (3, 1, 2), (5, 1, 3)])
def test_nonfinite_input_rejected_by_every_backend(backend, spike_fn, neuron, bad, where):
    """The CPU path checks values from the final state; a NaN/Inf at any step must still be caught."""
    pytest.importorskip("numba") if backend == "numba" else None
    from adaspike.core import BurstSpike, BinarySpike, adlif_discrete

    ssm = (lif_discrete(torch.full((4,), 0.9)) if neuron == "lif"
           else adlif_discrete(torch.full((4,), 0.9), torch.full((4,), 0.8), a=0.5, b=0.3))
    x = torch.rand(6, 2, 4)
    x[where] = bad
    fn = BurstSpike(3) if spike_fn == "burst" else BinarySpike()
    with pytest.raises(ValueError, match="NaN or Inf"):
        scan(x, ssm, spike_fn=fn, backend=backend)
    scan(torch.rand(6, 2, 4), ssm, spike_fn=fn, backend=backend)  # finite input still runs
