"""AdaFire neuron properties (spec §3, §11.1-3)."""
import math

import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from adaspike.convert import run_adafire
from adaspike.core import BinarySpike, BurstSpike, if_discrete, scan

THETA, T = 0.7, 8


def _far_from_integer(v: float) -> bool:
    return abs(v - round(v)) > 1e-6


@settings(max_examples=60, deadline=None)
@given(gamma=st.sampled_from([1, 2, 4, 8]), frac=st.floats(0.0, 1.0))
def test_constant_input_rounds_with_shift_and_floors_without(gamma, frac):
    z = -0.5 + frac * (1.3 * gamma * THETA + 0.5)
    assume(_far_from_integer(T * z / THETA) and _far_from_integer(T * z / THETA + 0.5))
    current = torch.full((T, 1, 1), z, dtype=torch.float64)
    shifted = run_adafire(current, THETA, gamma).sum()
    plain = run_adafire(current, THETA, gamma, half_shift=False).sum()
    assert shifted == min(max(math.floor(T * z / THETA + 0.5), 0), gamma * T)
    assert plain == min(max(math.floor(T * z / THETA), 0), gamma * T)
    rate = float(shifted) * THETA / T
    if 0 <= z <= gamma * THETA:
        assert abs(rate - z) <= THETA / (2 * T) + 1e-12
    if z >= gamma * THETA:
        assert rate == gamma * THETA      # saturation at Γθ


@settings(max_examples=40, deadline=None)
@given(gamma=st.sampled_from([2, 3, 4, 8]), frac=st.floats(0.0, 1.0), steps=st.sampled_from([1, 2, 4, 8]))
def test_burst_equals_longer_binary_run(gamma, frac, steps):
    z = -0.2 + frac * (1.2 * gamma * THETA)
    assume(_far_from_integer(steps * z / THETA + 0.5))
    burst = run_adafire(torch.full((steps, 1, 1), z, dtype=torch.float64), THETA, gamma)
    binary = run_adafire(torch.full((gamma * steps, 1, 1), z, dtype=torch.float64), gamma * THETA, 1)
    assert burst.sum() == binary.sum()
    assert math.isclose(float(burst.sum()) * THETA / steps, float(binary.sum()) * gamma * THETA / (gamma * steps))


def _core_counts(current, theta, spike_fn):
    """The core IF scan fed the AdaFire drive z + θ/(2T)."""
    ssm = if_discrete(gain=1.0, threshold=theta)
    return scan(current + theta / (2 * current.shape[0]), ssm, reset="subtract", spike_fn=spike_fn).spikes


def test_gamma_one_is_binary_if_spike_for_spike():
    torch.manual_seed(0)
    current = torch.randn(16, 8, 32, dtype=torch.float64) * 0.8 + 0.3
    ours = run_adafire(current, THETA, 1)
    core = _core_counts(current, THETA, BinarySpike())
    assert torch.equal(ours, core)
    assert ours.sum() > 0 and (ours <= 1).all()


def test_burst_matches_core_burst_spike_scan():
    torch.manual_seed(1)
    current = torch.rand(8, 4, 16, dtype=torch.float64) * 3.0 - 0.5
    for gamma in (2, 3, 5):
        assert torch.equal(run_adafire(current, THETA, gamma), _core_counts(current, THETA, BurstSpike(gamma)))


def test_unevenness_late_current():
    theta = 1.0
    current = torch.tensor([0, 0, 0, 0, 1.6, 1.6, 1.6, 1.6], dtype=torch.float64).view(8, 1, 1) * theta
    assert run_adafire(current, theta, 1).sum() == 4
    for gamma in (2, 3, 8):
        assert run_adafire(current, theta, gamma).sum() == 6
