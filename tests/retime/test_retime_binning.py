"""Spec retime.md §7 / §8.6: bins nest exactly at every k, mean counts scale by ρ, float16 times are safe."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from adaspike.data import AUDIO_DTYPE
from adaspike.retime import rebin


def float16_events(rng, n=3000, t_max=1.4, units=20):
    ev = np.zeros(n, dtype=[("t", np.float16), ("unit", np.int16)])
    ev["t"] = rng.uniform(0, t_max, n).astype(np.float16)
    ev["unit"] = rng.integers(0, units, n)
    return ev


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([1e-3, 2e-3, 250e-6, 5e-3]), st.sampled_from([2, 3, 4, 8]))
def test_bins_nest_exactly(seed, dt, k):
    ev = float16_events(np.random.default_rng(seed))
    t_max = 1.4
    fine = rebin(ev, dt, t_max, sensor_shape=(20,)).numpy().astype(np.int64)
    coarse = rebin(ev, k * dt, t_max, sensor_shape=(20,)).numpy().astype(np.int64)
    padded = np.zeros((coarse.shape[0] * k, 20), np.int64)
    padded[: fine.shape[0]] = fine
    assert np.array_equal(padded.reshape(-1, k, 20).sum(1), coarse)  # integer equality
    assert fine.shape[0] == -(-round(t_max * 1e6) // round(dt * 1e6))


def test_mean_counts_scale_by_rho_and_late_events_drop():
    rng = np.random.default_rng(0)
    ev = np.zeros(20000, dtype=AUDIO_DTYPE)
    ev["t"] = rng.integers(0, 1_000_000, 20000)
    ev["unit"] = rng.integers(0, 5, 20000)
    c4 = rebin(ev, 4e-3, 1.0, sensor_shape=(5,))
    c2 = rebin(ev, 2e-3, 1.0, sensor_shape=(5,))
    assert float(c2.mean() / c4.mean()) == pytest.approx(0.5, rel=1e-12)
    assert c2.dtype == torch.float32 and c2.shape == (500, 5)
    short = rebin(ev, 4e-3, 0.5, sensor_shape=(5,))
    assert int(short.sum()) == int((ev["t"] < 500_000).sum())


def test_float16_seconds_do_not_overflow():
    ev = np.zeros(2, dtype=[("t", np.float16), ("unit", np.int16)])
    ev["t"] = [1.3, 0.7]
    counts = rebin(ev, 1e-3, 1.4, sensor_shape=(700,))
    assert int(counts.sum()) == 2 and torch.isfinite(counts).all()
    with pytest.raises(ValueError, match="microseconds"):
        rebin(ev, 1.5e-7, 1.4, sensor_shape=(700,))
