"""Event arrays and exactly nesting time bins.

Events are numpy structured arrays with integer-microsecond timestamps.
Binning uses ``j = t // dt`` on integers, so a bin of width ``k * dt``
is exactly the sum of ``k`` consecutive bins of width ``dt``
(see ``retime.md`` section 7); :func:`rebin_counts` derives coarse bins
the same way (``coarse = fine[j // k]``).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

# Field names and order follow tonic's event layout; t is in integer microseconds.
CAMERA_DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i1")])
AUDIO_DTYPE = np.dtype([("t", "<i8"), ("unit", "<i2")])

DEFAULT_CAMERA_SHAPE = (34, 34)
DEFAULT_AUDIO_SHAPE = (700,)


def dt_to_us(dt: float) -> int:
    """Convert a bin width in seconds to an exact integer number of microseconds.

    Raises ``ValueError`` (naming the value) for non-finite or non-positive
    widths and for widths that are not a whole number of microseconds, since a
    silently rounded width would break bin nesting.
    """
    value = float(dt)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"dt must be a positive finite number of seconds, got {dt!r}")
    us = value * 1e6
    whole = round(us)
    # Tolerance absorbs decimal-to-binary noise such as 0.004 * 1e6 = 4000.000000000001.
    if whole < 1 or abs(us - whole) > 1e-6 * max(1.0, abs(us)):
        raise ValueError(f"dt={dt!r} s is not a whole number of microseconds")
    return int(whole)


def seconds_to_us(times: np.ndarray) -> np.ndarray:
    """Round times in seconds to int64 microseconds.

    The cast to float64 comes first: float16 inputs (SHD) overflow to inf
    when multiplied by 1e6 in their own precision.
    """
    t = np.asarray(times).astype(np.float64)
    if t.size and not np.all(np.isfinite(t)):
        raise ValueError("event times contain NaN or inf")
    return np.rint(t * 1e6).astype(np.int64)


def camera_events(x: np.ndarray, y: np.ndarray, t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Pack columns into a :data:`CAMERA_DTYPE` structured array (t in µs)."""
    out = np.empty(len(t), dtype=CAMERA_DTYPE)
    out["x"], out["y"], out["t"], out["p"] = x, y, t, p
    return out


def audio_events(t: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """Pack columns into an :data:`AUDIO_DTYPE` structured array (t in µs)."""
    out = np.empty(len(t), dtype=AUDIO_DTYPE)
    out["t"], out["unit"] = t, unit
    return out


def is_camera(events: np.ndarray) -> bool:
    """True for camera events (x, y, p fields), False for audio events (unit field)."""
    names = events.dtype.names or ()
    if {"x", "y", "p", "t"} <= set(names):
        return True
    if {"unit", "t"} <= set(names):
        return False
    raise ValueError(f"unknown event layout with fields {names}; expected CAMERA_DTYPE or AUDIO_DTYPE")


def feature_shape(camera: bool, sensor_shape: Sequence[int] | None, pool: int = 1) -> tuple[int, ...]:
    """Per-bin feature shape: ``(2, H/p, W/p)`` for cameras, ``(units/p,)`` for audio.

    Pooled sizes round up, so a partial last block is kept rather than dropped.
    """
    if pool < 1:
        raise ValueError(f"pool must be a positive integer, got {pool!r}")
    if sensor_shape is None:
        sensor_shape = DEFAULT_CAMERA_SHAPE if camera else DEFAULT_AUDIO_SHAPE
    pooled = tuple(-(-int(s) // pool) for s in sensor_shape)
    if camera:
        if len(pooled) != 2:
            raise ValueError(f"camera sensor_shape must be (H, W), got {tuple(sensor_shape)}")
        return (2, *pooled)
    if len(pooled) != 1:
        raise ValueError(f"audio sensor_shape must be (units,), got {tuple(sensor_shape)}")
    return pooled


def num_bins(t_max_us: int, dt_us: int, drop_last: bool = False) -> int:
    """``ceil(t_max / dt)`` bins, or ``floor`` when the partial last bin is dropped."""
    return t_max_us // dt_us if drop_last else -(-t_max_us // dt_us)


def bin_events(
    events: np.ndarray,
    dt_us: int,
    n_bins: int | None = None,
    t_max_us: int | None = None,
    sensor_shape: Sequence[int] | None = None,
    drop_last: bool = False,
    pool: int = 1,
) -> np.ndarray:
    """Count events per (time bin, feature) into a dense int64 array ``[T, *features]``.

    Bin index is ``j = t // dt_us``.  The number of bins is ``n_bins`` if given,
    else ``ceil(t_max_us / dt_us)`` (``floor`` with ``drop_last``), else enough to
    hold the last event.  Events with ``t >= t_max_us`` or ``j >= n_bins`` are
    dropped.  Camera features are ``(polarity, y, x)``; audio features are units.
    ``pool`` sums ``pool x pool`` pixel blocks (camera) or groups of ``pool``
    channels (audio), e.g. 700 -> 140 with ``pool=5``.
    """
    dt_us = _positive_int(dt_us, "dt_us")
    camera = is_camera(events)
    shape = feature_shape(camera, sensor_shape, pool)
    t = events["t"].astype(np.int64, copy=False)
    if t.size and t.min() < 0:
        raise ValueError(f"event times must be >= 0 µs, got minimum {t.min()}")
    if t_max_us is not None:
        t_max_us = _positive_int(t_max_us, "t_max_us")
        if n_bins is None:
            n_bins = num_bins(t_max_us, dt_us, drop_last)
    elif n_bins is None:
        n_bins = int(t.max()) // dt_us + 1 if t.size else 0
    j = t // dt_us
    keep = j < n_bins
    if t_max_us is not None:
        keep &= t < t_max_us
    flat = _feature_index(events[keep], camera, shape, pool)
    n_features = int(np.prod(shape))
    index = j[keep] * n_features + flat
    counts = np.bincount(index, minlength=n_bins * n_features)
    return counts.reshape(n_bins, *shape)


def check_event_times(events: np.ndarray, origin: str = "events") -> np.ndarray:
    """The events' int64 µs timestamps, refusing negative or decreasing ones (a corrupted or merged stream).

    Equal timestamps (several events at one instant, even duplicate records, as real N-MNIST recordings hold)
    are data: they are counted together."""
    t = events["t"].astype(np.int64, copy=False)
    if t.size and t.min() < 0:
        i = int(np.argmin(t))
        raise ValueError(f"{origin}: event {i} has a negative timestamp ({int(t[i])} µs); times must be >= 0")
    back = np.flatnonzero(np.diff(t) < 0)
    if back.size:
        i = int(back[0]) + 1
        raise ValueError(f"{origin}: timestamps are not sorted: event {i} at {int(t[i])} µs comes after "
                         f"{int(t[i - 1])} µs; sort the events by time (np.sort(events, order='t'))")
    return t


def bin_events_on_edges(events: np.ndarray, edges_us: np.ndarray, sensor_shape: Sequence[int] | None = None,
                        pool: int = 1) -> np.ndarray:
    """Count events per irregular bin [edges[i], edges[i+1]) µs and feature: int64 ``[T, *features]``.

    ``edges_us`` [T + 1] are strictly increasing integer microseconds; events outside [edges[0], edges[-1]) are
    dropped. On a regular grid this equals :func:`bin_events`.
    """
    edges = np.asarray(edges_us)
    if edges.ndim != 1 or edges.size < 2 or not np.issubdtype(edges.dtype, np.integer):
        raise ValueError(f"bin edges must be a 1-D integer array (µs) of at least 2 times, got {edges.dtype} "
                         f"shape {edges.shape}")
    if edges[0] < 0 or np.any(np.diff(edges) <= 0):
        raise ValueError("bin edges must start at >= 0 µs and increase strictly")
    camera = is_camera(events)
    shape = feature_shape(camera, sensor_shape, pool)
    t = events["t"].astype(np.int64, copy=False)
    if t.size and t.min() < 0:
        raise ValueError(f"event times must be >= 0 µs, got minimum {t.min()}")
    j = np.searchsorted(edges, t, side="right") - 1
    keep = (j >= 0) & (t < edges[-1])
    n_bins, n_features = edges.size - 1, int(np.prod(shape))
    index = j[keep] * n_features + _feature_index(events[keep], camera, shape, pool)
    return np.bincount(index, minlength=n_bins * n_features).reshape(n_bins, *shape)


def jittered_edges(t_max_us: int, dt_us: int, jitter: float, rng: np.random.Generator) -> np.ndarray:
    """Bin edges (µs) of a clock whose ticks drift: ceil(t_max/dt) steps of length dt·(1 + jitter·u), u ~ U(−1, 1)
    each, rounded to whole microseconds (≥ 1). The steps do not sum to t_max exactly, as a drifting clock's
    would not; events past the last edge are dropped."""
    if not 0.0 <= float(jitter) < 1.0:
        raise ValueError(f"clock jitter must lie in [0, 1) (a fraction of the nominal step), got {jitter!r}")
    dt_us = _positive_int(dt_us, "dt_us")
    steps = num_bins(_positive_int(t_max_us, "t_max_us"), dt_us)
    lengths = np.maximum(1, np.rint(dt_us * (1.0 + float(jitter) * rng.uniform(-1.0, 1.0, steps)))).astype(np.int64)
    return np.concatenate([[0], np.cumsum(lengths)])


def event_grid(events: np.ndarray, t_max_us: int, resolution_us: int = 1, delivery: bool = True) -> np.ndarray:
    """Bin edges (µs) for event-driven runs: one bin of ``resolution_us`` at each distinct event time (and, with
    ``delivery``, the bin right after it, in which a recurrent network receives the spikes of the event's step),
    and one bin for every gap between them, up to ``t_max_us``.

    Binned on these edges, a recording is the dense grid at ``resolution_us`` with every empty stretch merged into
    one step (exact for a held input, the ZOH group law), so its number of steps follows the number of distinct
    event times, not the recording's length.
    """
    r = _positive_int(resolution_us, "resolution_us")
    t_max = _positive_int(t_max_us, "t_max_us")
    t = check_event_times(events)
    bins = np.unique(t[t < t_max] // r)
    marks = [bins * r, (bins + 1) * r]
    if delivery:
        marks.append((bins + 2) * r)
    edges = np.unique(np.concatenate([[0, t_max], *marks]))
    return edges[edges <= t_max]


def rebin_counts(counts: np.ndarray, k: int, drop_last: bool = False) -> np.ndarray:
    """Sum ``k`` consecutive time bins: ``coarse[J] = sum(fine[j] for j // k == J)``.

    The last, partial window is kept (``ceil(T / k)`` bins) unless ``drop_last``,
    which keeps ``floor(T / k)`` bins, like tonic's framing.
    """
    k = _positive_int(k, "k")
    counts = np.asarray(counts)
    n_fine = counts.shape[0]
    n_coarse = n_fine // k if drop_last else -(-n_fine // k)
    padded = np.zeros((n_coarse * k, *counts.shape[1:]), dtype=counts.dtype)
    used = min(n_fine, n_coarse * k)
    padded[:used] = counts[:used]
    return padded.reshape(n_coarse, k, *counts.shape[1:]).sum(axis=1)


def _feature_index(events: np.ndarray, camera: bool, shape: tuple[int, ...], pool: int) -> np.ndarray:
    """Flat feature index of each event, after pooling; rejects out-of-range coordinates."""
    if camera:
        _, h, w = shape
        x = events["x"].astype(np.int64) // pool
        y = events["y"].astype(np.int64) // pool
        p = events["p"].astype(np.int64)
        _check_range(x, w, "x")
        _check_range(y, h, "y")
        _check_range(p, 2, "p")
        return (p * h + y) * w + x
    unit = events["unit"].astype(np.int64) // pool
    _check_range(unit, shape[0], "unit")
    return unit


def _check_range(values: np.ndarray, size: int, name: str) -> None:
    if values.size and (values.min() < 0 or values.max() >= size):
        raise ValueError(
            f"event field {name!r} out of range [0, {size}) after pooling: "
            f"min {values.min()}, max {values.max()}; check sensor_shape"
        )


def _positive_int(value: int, name: str) -> int:
    """Return ``value`` as int, or raise ``ValueError`` naming it (NaN, floats with fractions, <= 0)."""
    ok = not isinstance(value, (bool, np.bool_))
    try:
        ok = ok and value == int(value) and value > 0
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
