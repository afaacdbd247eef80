"""Encoder properties of the hybrid-coding spec (§9.2, 9.3, 9.5, 9.6), bit-exact in integer mode."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from adaspike.encoding import (ENCODERS, ENCODINGS, DirectEncoder, HybridEncoder, LatencyEncoder, RateEncoder, TemporalEncoder,
                               equal_mass_hybrid_thresholds, equal_mass_temporal_thresholds, make_encoder)

ALL_PIXELS = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)


def first_spike_time(planes):
    """Index of the first 1 along time, or -1 for silent pixels."""
    T = planes.shape[0]
    t = torch.arange(T).reshape(-1, *([1] * (planes.dim() - 1)))
    idx = torch.where(planes > 0, t, T).min(0).values
    return torch.where(idx == T, torch.full_like(idx, -1), idx)


@pytest.mark.parametrize("T", [2, 3, 4, 5, 7, 8, 15, 17])
def test_temporal_fires_once_at_the_closed_form_time_for_every_8bit_value(T):
    planes = TemporalEncoder(T)(ALL_PIXELS)
    p = ALL_PIXELS.to(torch.int64)
    m = torch.clamp(T * p // 255, max=T - 1)            # exact integer ⌊T x⌋ capped
    informative = planes[: T - 1]
    assert bool((informative.sum(0) <= 1).all())
    expected = torch.where(m >= 1, T - 1 - m, torch.full_like(m, -1))
    assert torch.equal(first_spike_time(informative), expected)
    assert bool((planes[-1] == 1).all())                 # the all-ones artefact plane
    assert torch.equal(TemporalEncoder(T).decode(planes) * T, m.float())


@pytest.mark.parametrize("T", [2, 3, 5, 8])
def test_temporal_drop_removes_only_the_last_plane(T):
    ones, drop = TemporalEncoder(T, last_plane="ones"), TemporalEncoder(T, last_plane="drop")
    a, b = ones(ALL_PIXELS), drop(ALL_PIXELS)
    assert a.shape[0] == T and b.shape[0] == T - 1 == drop.steps
    assert torch.equal(a[:-1], b)


@pytest.mark.parametrize("T", [2, 3, 4, 5, 7, 8, 15, 17])
def test_hybrid_step0_is_the_input_and_spikes_round_trip(T):
    x = ALL_PIXELS.float() / 255.0
    enc = HybridEncoder(T)
    frames = enc(x)
    assert frames.shape == (T, *x.shape)
    assert torch.equal(frames[0], x)                      # bit for bit
    p = ALL_PIXELS.to(torch.int64)
    m = torch.clamp(T * p // 255, max=T - 1)
    spikes = frames[1:]
    assert bool((spikes.sum(0) <= 1).all())
    fired_at = first_spike_time(spikes)                   # index i ↔ step t = i + 1
    expected = torch.where(m >= 1, T - m - 1, torch.full_like(m, -1))
    assert torch.equal(fired_at, expected)
    assert bool((spikes.sum(0)[T * p < 255] == 0).all())  # x < 1/T never fires
    assert torch.equal(enc.decode(frames) * T, m.float())


@settings(max_examples=40, deadline=None)
@given(T=st.integers(2, 20), pixels=st.lists(st.integers(0, 255), min_size=1, max_size=64))
def test_integer_mode_matches_exact_rational_thresholds(T, pixels):
    """Fire at t iff p/255 ≥ θ_t decided on exact rationals (no float involved)."""
    p = torch.tensor(pixels, dtype=torch.uint8).reshape(1, -1)
    temporal = TemporalEncoder(T)(p)
    hybrid = HybridEncoder(T)(p)[1:]
    for j, value in enumerate(pixels):
        t_temporal = next(t for t in range(T) if T * value >= 255 * (T - t - 1))
        assert temporal[:, 0, j].tolist() == [1.0 if t == t_temporal or t == T - 1 else 0.0 for t in range(T)]
        fires = [t for t in range(1, T) if T * value >= 255 * (T - t)]
        expected = [1.0 if fires and t == fires[0] else 0.0 for t in range(1, T)]
        assert hybrid[:, 0, j].tolist() == expected


def test_uint8_and_float_inputs_agree_in_integer_mode():
    x = ALL_PIXELS.float() / 255.0
    for enc in (TemporalEncoder(5), HybridEncoder(5)):
        a, b = enc(ALL_PIXELS), enc(x)
        assert torch.equal(a, b)


def test_equal_mass_thresholds_match_the_spec_values():
    expected = [0.7441, 0.6378, 0.5449, 0.4551, 0.3622, 0.2559, 0.0]
    got = equal_mass_temporal_thresholds(7)
    assert torch.allclose(got, torch.tensor(expected, dtype=torch.float64), atol=2e-3)
    assert torch.allclose(equal_mass_hybrid_thresholds(7), got[:-1], atol=1e-12)  # θ_t = σ(Φ⁻¹(1 − t/T))


@pytest.mark.parametrize("T", [3, 7, 8])
def test_equal_mass_bins_hold_one_over_T_of_the_mass(T):
    g = torch.Generator().manual_seed(0)
    samples = torch.sigmoid(torch.randn(10**6, generator=g, dtype=torch.float64))
    edges = torch.cat([torch.ones(1, dtype=torch.float64), equal_mass_temporal_thresholds(T)])
    for i in range(T):
        low, high = edges[i + 1], edges[i]
        mass = float(((samples >= low) & (samples < high)).double().mean()) if i else float((samples >= low).double().mean())
        assert abs(mass - 1 / T) < 0.005


def test_equal_mass_encoders_fire_at_most_once():
    x = torch.rand(4, 1, 8, 8)
    for enc in (TemporalEncoder(6, thresholds="equal_mass"), HybridEncoder(6, thresholds="equal_mass")):
        out = enc(x)
        spikes = out[:-1] if isinstance(enc, TemporalEncoder) else out[1:]
        assert bool((spikes.sum(0) <= 1).all()) and bool(((spikes == 0) | (spikes == 1)).all())


def test_direct_frames_are_identical_and_normalised():
    x = torch.rand(3, 1, 5, 5)
    out = DirectEncoder(4, mean=0.5, std=0.25)(x)
    assert out.shape == (4, 3, 1, 5, 5)
    assert all(torch.equal(out[t], (x - 0.5) / 0.25) for t in range(4))


def test_rate_encoder_is_seeded_and_unbiased():
    x = torch.full((2, 1, 40, 40), 0.3)
    a, b = RateEncoder(50, seed=3)(x), RateEncoder(50, seed=3)(x)
    assert torch.equal(a, b)
    assert not torch.equal(a, RateEncoder(50, seed=4)(x))
    assert abs(float(a.mean()) - 0.3) < 0.01


def test_latency_fires_once_brighter_earlier():
    x = torch.tensor([[0.0, 0.25, 0.5, 1.0]])
    out = LatencyEncoder(5)(x)
    assert out.sum(0).tolist() == [[0.0, 1.0, 1.0, 1.0]]
    assert first_spike_time(out).tolist() == [[-1, 3, 2, 0]]


@pytest.mark.parametrize("name", ENCODINGS)
def test_make_encoder_gives_the_requested_number_of_steps(name):
    assert make_encoder(name, 4)(torch.rand(2, 1, 6, 6)).shape == (4, 2, 1, 6, 6)
    assert ENCODERS[name][1]  # every registered code says what it is


@given(st.integers(2, 9), st.lists(st.integers(0, 255), min_size=1, max_size=40))
def test_the_study_temporal_code_is_the_faithful_one_and_the_drop_variant_is_named(T, pixels):
    x = torch.tensor([pixels], dtype=torch.float32) / 255.0
    faithful = make_encoder("temporal", T)(x)
    # spec §3.2: T levels, T planes, the last one all ones; spike time T−1−min(⌊T x⌋, T−1)
    assert torch.equal(faithful, TemporalEncoder(T, last_plane="ones")(x))
    assert bool((faithful[-1] == 1).all())
    m = torch.clamp((T * torch.tensor([pixels])) // 255, max=T - 1)
    assert torch.equal(first_spike_time(faithful[:-1]), torch.where(m == 0, -1, T - 1 - m))
    drop = make_encoder("temporal-drop", T)(x)
    assert torch.equal(drop, TemporalEncoder(T + 1, last_plane="drop")(x))
    assert bool((drop.sum(0) <= 1).all())  # no all-ones plane: every pixel fires at most once


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="last_plane"):
        TemporalEncoder(4, last_plane="zeros")
    with pytest.raises(ValueError, match="T >= 2"):
        HybridEncoder(1)
    with pytest.raises(ValueError, match="unknown encoding"):
        make_encoder("bitplane", 4)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        TemporalEncoder(4)(torch.full((1, 4), 2.0))
