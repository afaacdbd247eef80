"""Event arrays, exact microsecond conversion and nested binning."""

import re

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from adaspike.data.events import (
    AUDIO_DTYPE,
    CAMERA_DTYPE,
    audio_events,
    bin_events,
    camera_events,
    dt_to_us,
    rebin_counts,
    seconds_to_us,
)


def test_dtypes_follow_tonic_field_names():
    assert CAMERA_DTYPE.names == ("x", "y", "t", "p")
    assert AUDIO_DTYPE.names == ("t", "unit")
    assert CAMERA_DTYPE["t"] == np.int64


@pytest.mark.parametrize("dt, us", [(0.004, 4000), (1e-3, 1000), (2.5e-4, 250), (1e-6, 1), (1.4, 1_400_000)])
def test_dt_to_us_is_exact(dt, us):
    assert dt_to_us(dt) == us


@pytest.mark.parametrize("bad", [0.0, -1e-3, float("nan"), float("inf"), 1.5e-7])
def test_dt_to_us_rejects_bad_values_naming_them(bad):
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        dt_to_us(bad)


def test_seconds_to_us_casts_float16_to_float64_first():
    t16 = np.array([0.5, 1.3, 1.39], dtype=np.float16)
    with np.errstate(over="ignore"):
        assert np.isinf(t16 * np.float16(1e6)).all()  # the pitfall being avoided
    us = seconds_to_us(t16)
    assert us.dtype == np.int64
    np.testing.assert_array_equal(us, np.rint(t16.astype(np.float64) * 1e6))


def test_bin_camera_events_counts_and_layout():
    ev = camera_events(x=[0, 33, 33, 5], y=[0, 33, 33, 6], t=[0, 3999, 3999, 4000], p=[1, 0, 0, 1])
    counts = bin_events(ev, 4000, t_max_us=8000)
    assert counts.shape == (2, 2, 34, 34)
    assert counts[0, 1, 0, 0] == 1 and counts[0, 0, 33, 33] == 2 and counts[1, 1, 6, 5] == 1
    assert counts.sum() == 4


def test_bin_drops_events_at_or_after_t_max_and_keeps_partial_last_bin():
    ev = audio_events(t=[0, 9_999, 10_000, 10_001], unit=[1, 2, 3, 4])
    counts = bin_events(ev, 4000, t_max_us=10_000)  # 2.5 bins -> 3, the last one partial
    assert counts.shape == (3, 700)
    assert counts.sum() == 2
    dropped = bin_events(ev, 4000, t_max_us=10_000, drop_last=True)
    assert dropped.shape == (2, 700) and dropped.sum() == 1


def test_pooling_camera_and_audio():
    ev = camera_events(x=[0, 1, 33], y=[0, 1, 33], t=[0, 0, 0], p=[1, 1, 1])
    pooled = bin_events(ev, 1000, t_max_us=1000, pool=2)
    assert pooled.shape == (1, 2, 17, 17)
    assert pooled[0, 1, 0, 0] == 2 and pooled[0, 1, 16, 16] == 1
    audio = audio_events(t=[0, 0, 0, 0], unit=[0, 4, 5, 699])
    ch = bin_events(audio, 1000, t_max_us=1000, pool=5)
    assert ch.shape == (1, 140)
    assert ch[0, 0] == 2 and ch[0, 1] == 1 and ch[0, 139] == 1


def test_out_of_range_coordinates_raise():
    ev = camera_events(x=[34], y=[0], t=[0], p=[0])
    with pytest.raises(ValueError, match="'x' out of range"):
        bin_events(ev, 1000, t_max_us=1000)


def test_rebin_counts_partial_window_convention():
    fine = np.arange(10).reshape(5, 2)
    np.testing.assert_array_equal(rebin_counts(fine, 2), [[2, 4], [10, 12], [8, 9]])
    np.testing.assert_array_equal(rebin_counts(fine, 2, drop_last=True), [[2, 4], [10, 12]])


@settings(max_examples=60, deadline=None)
@given(
    times=st.lists(st.integers(0, 400_000), max_size=300),
    dt_fine=st.integers(1, 5_000),
    k=st.integers(1, 12),
    t_max=st.integers(1, 400_000),
    drop_last=st.booleans(),
)
def test_bins_nest_exactly(times, dt_fine, k, t_max, drop_last):
    """Binning at k*dt equals summing k bins at dt, as exact integers."""
    # at most 20 000 fine bins: dt 1 µs over 0.4 s drew 400 000 x 300 counts (1 GB, 0.3 s to 34 s a run)
    assume(t_max // dt_fine <= 20_000)
    ev = audio_events(t=np.array(times, dtype=np.int64), unit=np.array([i % 700 for i in range(len(times))]))
    fine = bin_events(ev, dt_fine, t_max_us=t_max, drop_last=drop_last)
    coarse = bin_events(ev, dt_fine * k, t_max_us=t_max, drop_last=drop_last)
    np.testing.assert_array_equal(rebin_counts(fine, k, drop_last=drop_last), coarse)
    assert coarse.dtype.kind == "i"
    if not drop_last:
        assert coarse.sum() == sum(t < t_max for t in times)


@settings(max_examples=30, deadline=None)
@given(
    seconds=st.lists(st.floats(0, 1.4, exclude_max=True), min_size=1, max_size=200),
    dt_fine_us=st.integers(100, 20_000),
    k=st.integers(2, 8),
    n_coarse=st.integers(1, 50),
)
def test_mean_counts_scale_by_the_ratio(seconds, dt_fine_us, k, n_coarse):
    """Float-second times, converted once to µs: mean count per bin scales by k = dt_coarse / dt_fine."""
    ev = audio_events(t=seconds_to_us(np.array(seconds)), unit=np.zeros(len(seconds), dtype=np.int16))
    t_max = n_coarse * k * dt_fine_us
    fine = bin_events(ev, dt_fine_us, t_max_us=t_max)
    coarse = bin_events(ev, k * dt_fine_us, t_max_us=t_max)
    assert fine.shape[0] == k * coarse.shape[0]
    assert fine.sum() == coarse.sum()
    assert coarse.mean() == pytest.approx(k * fine.mean())
