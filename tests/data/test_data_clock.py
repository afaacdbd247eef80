"""Event data on clocks other than the regular grid: irregular bin edges, drifting clocks, event-time grids."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from adaspike.data import camera_events
from adaspike.data.events import (audio_events, bin_events, bin_events_on_edges, check_event_times, event_grid,
                                  jittered_edges)
from adaspike.data.samples import EventDataset, time_major_collate


def _events(seed: int, n: int = 300, t_max: int = 50_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, t_max, n))
    return camera_events(rng.integers(0, 8, n), rng.integers(0, 8, n), t, rng.integers(0, 2, n))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 5_000))
def test_regular_edges_bin_like_the_regular_grid(seed, dt_us):
    ev = _events(seed)
    edges = np.arange(0, 50_000 + dt_us, dt_us, dtype=np.int64)
    edges = edges[edges <= 50_000] if edges[-1] > 50_000 else edges
    if edges[-1] != 50_000:
        edges = np.append(edges, 50_000)
    regular = bin_events(ev, dt_us, t_max_us=50_000, sensor_shape=(8, 8))
    assert np.array_equal(bin_events_on_edges(ev, edges, sensor_shape=(8, 8)), regular)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([1, 10, 100]), st.booleans())
def test_event_grid_keeps_every_event_and_puts_each_instant_in_its_own_bin(seed, resolution, delivery):
    ev = _events(seed)
    edges = event_grid(ev, 50_000, resolution, delivery)
    assert edges[0] == 0 and edges[-1] == 50_000 and np.all(np.diff(edges) > 0)
    counts = bin_events_on_edges(ev, edges, sensor_shape=(8, 8))
    assert counts.sum() == len(ev)
    occupied = np.flatnonzero(counts.reshape(len(counts), -1).sum(1))
    assert np.all(np.diff(edges)[occupied] <= resolution)  # an event bin is one resolution step long
    # fewer steps than the dense grid at that resolution, and one per instant at most 3x
    instants = len(np.unique(ev["t"] // resolution))
    assert len(counts) <= 3 * instants + 2 and len(counts) <= 50_000 // resolution


def test_jittered_clock_draws_each_step_around_the_nominal():
    edges = jittered_edges(300_000, 4_000, 0.3, np.random.default_rng(0))
    steps = np.diff(edges)
    assert len(steps) == 75 and steps.min() >= 0.7 * 4000 - 1 and steps.max() <= 1.3 * 4000 + 1
    assert steps.std() > 300  # it does drift
    assert np.array_equal(jittered_edges(300_000, 4_000, 0.0, np.random.default_rng(1)),
                          np.arange(76, dtype=np.int64) * 4_000)
    for bad in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match=r"\[0, 1\)"):
            jittered_edges(300_000, 4_000, bad, np.random.default_rng(0))


def test_bad_event_times_are_refused_and_repeated_ones_counted():
    with pytest.raises(ValueError, match="negative"):
        check_event_times(audio_events(np.array([5, -1]), np.array([0, 1])))
    with pytest.raises(ValueError, match="not sorted: event 2"):
        check_event_times(audio_events(np.array([5, 9, 7]), np.array([0, 1, 2])))
    twice = audio_events(np.array([5, 5, 5]), np.array([3, 3, 3]))  # duplicate records, as real N-MNIST holds
    counts = bin_events_on_edges(twice, event_grid(twice, 20), sensor_shape=(4,))
    assert counts.sum() == 3 and counts.max() == 3


def _dataset() -> EventDataset:
    class Source:
        labels = np.array([0, 1, 0, 1])

        def __len__(self):
            return 4

        def __getitem__(self, i):
            return _events(i, n=100 + 30 * i)

    return EventDataset(Source(), 4e-3, 0.05, (8, 8), num_classes=2)


def test_dataset_clocks_serve_step_lengths_with_the_counts():
    data = _dataset()
    x, y = data[0]
    assert x.shape == (13, 2, 8, 8)
    data.set_clock("regular")                       # the same grid, its step lengths served beside the counts
    xr, yr, sr = data[0]
    assert torch.equal(xr, x) and yr == y and torch.equal(sr, torch.full((13,), data.dt, dtype=torch.float64))
    data.set_clock("jitter", jitter=0.3, seed=4)
    x1, _, steps = data[1]
    assert x1.shape[0] == steps.shape[0] == 13 and steps.dtype == torch.float64
    assert torch.equal(data[1][2], steps)  # the same draw for the same (seed, sample)
    xb, yb, sb = time_major_collate([data[i] for i in range(4)])
    assert xb.shape[:2] == (13, 4) and sb.shape == (13, 4)
    data.set_clock("events", resolution=1e-6)
    xe, _, se = data[2]
    assert xe.sum() == 160 and float(se.sum()) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="batch_size=1"):
        time_major_collate([data[0], data[3]])
    with pytest.raises(ValueError, match="clock must be one of"):
        data.set_clock("wobbly")
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        data.set_clock("jitter", jitter=1.2)
