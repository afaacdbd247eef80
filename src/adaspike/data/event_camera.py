"""A small event-camera simulator that turns still images into N-MNIST-style recordings.

The sensor makes three saccades along a triangle (like the N-MNIST rig).
Each pixel fires an ON/OFF event whenever its log intensity moves one
contrast threshold away from its last reference level.  The scene is
rendered at fixed internal steps; crossing times inside a step are
linearly interpolated, so timestamps are continuous (integer µs).
Per-pixel threshold mismatch, a refractory period and uniform background
noise come from a per-image ``numpy`` Generator seeded by ``(seed, index)``,
so an image's events do not depend on which batch it was converted in.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .events import camera_events

SIMULATOR_VERSION = 1


@dataclass(frozen=True)
class CameraConfig:
    """Parameters of the simulated sensor and its motion (times in microseconds)."""

    sensor_size: tuple[int, int] = (34, 34)
    image_size: int = 28  # images are resized to this square and centred on the sensor
    saccade_us: int = 100_000  # three saccades: 300 ms per recording
    amplitude_px: float = 3.0  # side of the triangular eye path
    step_us: int = 1_000  # internal rendering step
    threshold: float = 0.25  # log-intensity contrast threshold
    threshold_sigma: float = 0.03  # per-pixel Gaussian mismatch of the threshold
    refractory_us: int = 1_000
    noise_rate_hz: float = 0.2  # background events per pixel per second
    log_eps: float = 0.1  # keeps the log of black pixels finite

    def __post_init__(self) -> None:
        positive = ("image_size", "saccade_us", "step_us", "threshold", "log_eps")
        non_negative = ("amplitude_px", "threshold_sigma", "refractory_us", "noise_rate_hz")
        bad = [n for n in positive if not getattr(self, n) > 0]
        bad += [n for n in non_negative if not getattr(self, n) >= 0]
        if bad:
            raise ValueError(f"CameraConfig fields out of range: {', '.join(f'{n}={getattr(self, n)!r}' for n in bad)}")
        if (3 * self.saccade_us) % self.step_us:
            raise ValueError(f"3 * saccade_us ({3 * self.saccade_us}) must be a multiple of step_us ({self.step_us})")

    @property
    def duration_us(self) -> int:
        return 3 * self.saccade_us

    def as_dict(self) -> dict:
        """Plain-data view used in cache keys."""
        return {**asdict(self), "sensor_size": list(self.sensor_size), "version": SIMULATOR_VERSION}


def images_to_events(
    images: np.ndarray,
    seed: int = 0,
    config: CameraConfig | None = None,
    *,
    indices: np.ndarray | None = None,
    chunk: int = 128,
) -> list[np.ndarray]:
    """Convert images ``(N, H, W)`` or ``(N, 1, H, W)`` into event arrays.

    ``uint8`` images are scaled by 1/255; other dtypes must already lie in
    [0, 1].  Returns one :data:`~adaspike.data.events.CAMERA_DTYPE` array per
    image, sorted by ``t`` in ``[0, 3 * saccade_us)``.  Image ``k`` draws its
    randomness from ``default_rng([seed, indices[k]])`` (``indices`` defaults to
    ``0..N-1``), so a subset converted with its original indices gives the same
    events as the full set.  ``chunk`` changes speed and memory, never the result.
    """
    cfg = config or CameraConfig()
    intensity = _unit_intensity(images)
    ids = np.arange(len(intensity)) if indices is None else np.asarray(indices, dtype=np.int64)
    if ids.shape != (len(intensity),):
        raise ValueError(f"indices must have one entry per image ({len(intensity)}), got shape {ids.shape}")
    out: list[np.ndarray] = []
    for start in range(0, len(intensity), chunk):
        out.extend(_simulate(intensity[start : start + chunk], ids[start : start + chunk], seed, cfg))
    return out


def image_to_events(image: np.ndarray, seed: int = 0, config: CameraConfig | None = None) -> np.ndarray:
    """Convert one image ``(H, W)``; same as the first item of :func:`images_to_events`."""
    return images_to_events(np.asarray(image)[None], seed, config)[0]


def eye_offsets(cfg: CameraConfig, times_us: np.ndarray) -> np.ndarray:
    """Sensor offset ``(dx, dy)`` in pixels at each time: a triangle centred on zero."""
    a = cfg.amplitude_px
    vertices = np.array([[0, 0], [a / 2, a], [a, 0], [0, 0]], dtype=np.float64)
    vertices -= vertices[:3].mean(axis=0)
    leg = np.minimum(np.asarray(times_us) // cfg.saccade_us, 2).astype(int)
    frac = (np.asarray(times_us) - leg * cfg.saccade_us) / cfg.saccade_us
    return vertices[leg] + frac[:, None] * (vertices[leg + 1] - vertices[leg])


def _unit_intensity(images: np.ndarray) -> np.ndarray:
    """Float64 intensities in [0, 1], shape ``(N, H, W)``."""
    arr = np.asarray(images)
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 3:
        raise ValueError(f"expected images of shape (N, H, W) or (N, 1, H, W), got {arr.shape}")
    if arr.dtype == np.uint8:
        return arr.astype(np.float64) / 255.0
    arr = arr.astype(np.float64)
    if arr.size and (np.nanmin(arr) < 0 or np.nanmax(arr) > 1 or np.isnan(arr).any()):
        raise ValueError("float images must lie in [0, 1]; pass uint8 images or rescale first")
    return arr


def _resize_matrix(n_out: int, n_in: int) -> np.ndarray:
    """Bilinear resampling matrix ``(n_out, n_in)`` with half-pixel centres."""
    src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    w = src - lo
    mat = np.zeros((n_out, n_in))
    np.add.at(mat, (np.arange(n_out), lo), 1 - w)
    np.add.at(mat, (np.arange(n_out), hi), w)
    return mat


def _canvas(images: np.ndarray, cfg: CameraConfig, margin: int) -> np.ndarray:
    """Resize images and centre them on a zero canvas ``sensor + 2 * margin`` wide."""
    size = cfg.image_size
    ry = _resize_matrix(size, images.shape[1])
    rx = _resize_matrix(size, images.shape[2])
    resized = np.einsum("ij,bjk,lk->bil", ry, images, rx)
    h, w = cfg.sensor_size
    if size > min(h, w):
        raise ValueError(f"image_size {size} does not fit the sensor {cfg.sensor_size}")
    # float32 halves the cost of the per-step rendering; crossing times are refined in float64.
    canvas = np.zeros((len(images), h + 2 * margin, w + 2 * margin), dtype=np.float32)
    top, left = margin + (h - size) // 2, margin + (w - size) // 2
    canvas[:, top : top + size, left : left + size] = np.clip(resized, 0, 1)
    return canvas


def _view(canvas: np.ndarray, margin: int, offset: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """What the sensor sees when shifted by a sub-pixel ``offset`` (bilinear sampling)."""
    h, w = shape
    fx, fy = margin + offset[0], margin + offset[1]
    ix, iy = int(math.floor(fx)), int(math.floor(fy))
    ax, ay = np.float32(fx - ix), np.float32(fy - iy)
    rows0 = canvas[:, iy : iy + h + 1]
    top = (1 - ax) * rows0[:, :h, ix : ix + w] + ax * rows0[:, :h, ix + 1 : ix + w + 1]
    bottom = (1 - ax) * rows0[:, 1:, ix : ix + w] + ax * rows0[:, 1:, ix + 1 : ix + w + 1]
    return (1 - ay) * top + ay * bottom


def _thresholds(rngs: list[np.random.Generator], cfg: CameraConfig) -> np.ndarray:
    """Per-image, per-pixel (ON, OFF) thresholds ``(B, 2, H, W)``, kept positive."""
    shape = (2, *cfg.sensor_size)
    draws = [rng.normal(cfg.threshold, cfg.threshold_sigma, size=shape) for rng in rngs]
    return np.maximum(np.stack(draws), 0.1 * cfg.threshold).astype(np.float32)


def _noise(rng: np.random.Generator, cfg: CameraConfig) -> np.ndarray:
    """Uniform background events: Poisson count, uniform pixel, polarity and time."""
    h, w = cfg.sensor_size
    n = rng.poisson(cfg.noise_rate_hz * h * w * cfg.duration_us * 1e-6)
    return camera_events(
        rng.integers(0, w, n), rng.integers(0, h, n), rng.integers(0, cfg.duration_us, n), rng.integers(0, 2, n)
    )


def _simulate(images: np.ndarray, ids: np.ndarray, seed: int, cfg: CameraConfig) -> list[np.ndarray]:
    """Simulate a batch of images; returns sorted event arrays, one per image.

    Pixel state is kept flat over (image, pixel) so each step is a few
    whole-array operations plus sparse work on the pixels that fired.
    """
    rngs = [np.random.default_rng([seed, int(i)]) for i in ids]
    thr = _thresholds(rngs, cfg)
    thr_on, thr_off = thr[:, 0].ravel(), thr[:, 1].ravel()
    neg_off = -thr_off
    margin = int(math.ceil(cfg.amplitude_px)) + 1
    canvas = _canvas(images, cfg, margin)
    n_steps = cfg.duration_us // cfg.step_us
    offsets = eye_offsets(cfg, np.arange(n_steps + 1) * cfg.step_us)
    eps = np.float32(cfg.log_eps)

    def log_frame(s: int) -> np.ndarray:
        return np.log(_view(canvas, margin, offsets[s], cfg.sensor_size) + eps).ravel()

    prev = log_frame(0)
    ref = prev.copy()
    last = np.full(prev.shape, -np.inf)
    found: list[tuple[np.ndarray, ...]] = []
    for s in range(n_steps):
        cur = log_frame(s + 1)
        diff = cur - ref
        hit = diff >= thr_on
        hit |= diff <= neg_off
        k = np.flatnonzero(hit)
        if k.size:
            found.append(_crossings(k, prev, cur, ref, thr_on, thr_off, last, s * cfg.step_us, cfg))
        prev = cur
    return _assemble(found, rngs, cfg)


def _crossings(k, prev, cur, ref, thr_on, thr_off, last, t0: int, cfg: CameraConfig) -> tuple[np.ndarray, ...]:
    """Events of the flat pixels ``k`` that crossed a threshold in one step; updates ``ref`` and ``last``.

    Log intensity is linear inside the step, so only one polarity can fire
    and the m-th crossing time is found by inverse interpolation.  Crossings
    inside the refractory period are lost, but the reference still moves,
    as in a pixel that was blind while the light changed.
    """
    p0, p1, r0 = (a[k].astype(np.float64) for a in (prev, cur, ref))
    d = p1 - r0
    on = d > 0
    step_thr = np.where(on, thr_on[k], thr_off[k]).astype(np.float64)
    sign = np.where(on, 1.0, -1.0)
    # At least one crossing: the float32 test above already saw one.
    n = np.maximum(np.floor(np.abs(d) / step_thr).astype(np.int64), 1)
    t_last = last[k]
    rows: list[tuple[np.ndarray, np.ndarray]] = []
    for m in range(1, int(n.max()) + 1):
        level = r0 + sign * m * step_thr
        frac = np.clip((level - p0) / (p1 - p0), 0.0, 1.0)
        t = t0 + frac * cfg.step_us
        keep = (n >= m) & (t >= t_last + cfg.refractory_us)
        t_last = np.where(keep, t, t_last)
        rows.append((np.flatnonzero(keep), t[keep]))
    ref[k] = r0 + sign * n * step_thr
    last[k] = t_last
    sel = np.concatenate([r[0] for r in rows])
    return k[sel], np.concatenate([r[1] for r in rows]), on[sel]


def _assemble(found: list[tuple[np.ndarray, ...]], rngs: list[np.random.Generator], cfg) -> list[np.ndarray]:
    """Split batched events per image, add noise and sort each by time."""
    h, w = cfg.sensor_size
    empty = (np.zeros(0, np.int64), np.zeros(0), np.zeros(0, bool))
    k, t, on = (np.concatenate(col) for col in zip(empty, *found))
    b, pix = np.divmod(k, h * w)
    t_us = np.minimum(np.floor(t).astype(np.int64), cfg.duration_us - 1)
    order = np.lexsort((t_us, b))
    bounds = np.searchsorted(b[order], np.arange(len(rngs) + 1))
    out = []
    for i, rng in enumerate(rngs):
        sl = order[bounds[i] : bounds[i + 1]]
        signal = camera_events(pix[sl] % w, pix[sl] // w, t_us[sl], on[sl])
        merged = np.concatenate([signal, _noise(rng, cfg)])
        out.append(merged[np.argsort(merged["t"], kind="stable")])
    return out
