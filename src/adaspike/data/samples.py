"""The dataset classes every loader returns (static images, binned events) and the time-major collate.

They live below ``datasets`` (the by-name builders) so that loaders such as ``wav_folder`` can subclass
``EventDataset`` without importing the builders back (no import cycle).
"""
from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .events import (bin_events, bin_events_on_edges, dt_to_us, event_grid, feature_shape, is_camera, jittered_edges,
                     num_bins)


def check_labels(labels: np.ndarray, num_classes: int | None, origin: str = "dataset") -> np.ndarray:
    """Refuse labels outside 0..num_classes-1 at load time, where the message can name the source."""
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size and labels.min() < 0:
        raise ValueError(f"{origin}: negative label {int(labels.min())}")
    if num_classes is not None and labels.size and labels.max() >= num_classes:
        raise ValueError(f"{origin}: label {int(labels.max())} is outside 0..{num_classes - 1} "
                         f"({num_classes} classes)")
    return labels


class EventSource(Protocol):
    """Anything with int64 ``labels`` whose items are event arrays (``EventSet``, ``NMNISTFiles``)."""

    labels: np.ndarray

    def __len__(self) -> int: ...

    def __getitem__(self, i: int) -> np.ndarray: ...


class StaticImageDataset(Dataset):
    """uint8 NCHW images served as ``(float32 tensor [C, H, W] in [0, 1], int label)``."""

    is_event_data = False
    dt = None

    def __init__(self, images: np.ndarray, labels: np.ndarray, class_names: Sequence[str] | None = None) -> None:
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {images.dtype} {images.shape}")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = images
        self.class_names = list(class_names) if class_names else None
        self.labels = check_labels(labels, len(self.class_names) if self.class_names else None, "image labels")
        self.num_classes = len(self.class_names) if self.class_names else _num_classes(self.labels)
        self.input_shape = tuple(images.shape[1:])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = torch.from_numpy(self.images[i].astype(np.float32) / 255.0)
        return x, int(self.labels[i])


class EventDataset(Dataset):
    """Event recordings served as ``(float32 count tensor [T, *input_shape], int label)``.

    ``dt`` and ``t_max`` are in seconds and must be whole microseconds;
    ``T = ceil(t_max / dt)`` (the partial last bin is kept) and events at
    ``t >= t_max`` are dropped.  ``pool`` sums pixel blocks or channel groups.

    :meth:`set_clock` bins on another clock instead of the regular grid: a drifting one (``"jitter"``) or the
    sample's own event times (``"events"``), or keeps the grid and serves its step lengths (``"regular"``); items
    are then ``(counts [T, ...], label, steps [T])`` with the step lengths in seconds (float64), for
    :func:`adaspike.retime.run_on_clock`.
    """

    is_event_data = True

    def __init__(
        self,
        data: EventSource,
        dt: float,
        t_max: float,
        sensor_shape: Sequence[int],
        pool: int = 1,
        class_names: Sequence[str] | None = None,
        num_classes: int | None = None,
    ) -> None:
        self.data = data
        self.class_names = list(class_names) if class_names else None
        declared = num_classes or (len(self.class_names) if self.class_names else None)
        self.labels = check_labels(data.labels, declared, "event labels")
        self.num_classes = declared or _num_classes(self.labels)
        self.sensor_shape = tuple(sensor_shape)
        if pool > max(self.sensor_shape, default=1):
            raise ValueError(f"pool {pool} is larger than the sensor {'x'.join(map(str, self.sensor_shape))}: "
                             "every sample would collapse to a single feature")
        self.pool = pool
        self.camera = len(self.sensor_shape) == 2
        self.input_shape = feature_shape(self.camera, self.sensor_shape, pool)
        self.set_dt(dt, t_max)
        self.clock, self.clock_options = "fixed", {}

    def set_clock(self, kind: str = "fixed", *, jitter: float = 0.0, seed: int = 0, resolution: float = 1e-6,
                  delivery: bool = True) -> None:
        """Bin samples on the regular grid at ``dt`` (``"fixed"``; ``"regular"`` also serves its step lengths),
        on a clock whose every step lasts dt·(1 + jitter·u), u ~ U(−1, 1) drawn per sample from (``seed``, index)
        (``"jitter"``), or on the sample's own event times at ``resolution`` seconds (``"events"``, see
        :func:`~adaspike.data.events.event_grid`)."""
        if kind not in CLOCKS:
            raise ValueError(f"clock must be one of {CLOCKS}, got {kind!r}")
        if kind == "jitter" and not 0.0 <= float(jitter) < 1.0:
            raise ValueError(f"clock jitter must lie in [0, 1) (a fraction of the nominal step), got {jitter!r}")
        options = {"jitter": dict(jitter=float(jitter), seed=int(seed)),
                   "events": dict(resolution_us=dt_to_us(resolution), delivery=bool(delivery))}.get(kind, {})
        self.clock, self.clock_options = kind, options

    def edges(self, i: int, events: np.ndarray | None = None) -> np.ndarray:
        """Bin edges (int64 µs, [T + 1]) of sample ``i`` on the dataset's clock."""
        if self.clock == "jitter":
            rng = np.random.default_rng([self.clock_options["seed"], int(i)])
            return jittered_edges(self._t_max_us, self._dt_us, self.clock_options["jitter"], rng)
        if self.clock == "events":
            ev = self.events(i) if events is None else events
            return event_grid(ev, self._t_max_us, self.clock_options["resolution_us"],
                              self.clock_options["delivery"])
        return np.arange(self.n_steps + 1, dtype=np.int64) * self._dt_us

    def set_dt(self, dt: float, t_max: float | None = None) -> None:
        """Change the bin width (and optionally the window) without reloading events."""
        self.dt = float(dt)
        self._dt_us = dt_to_us(dt)
        if t_max is not None:
            self.t_max = float(t_max)
            self._t_max_us = dt_to_us(t_max)
        self.n_steps = num_bins(self._t_max_us, self._dt_us)
        if self.n_steps < 2:  # a single bin has no time axis left to learn from: surely a wrong unit
            raise ValueError(f"dt = {self.dt:g} s is not shorter than the recording window t_max = {self.t_max:g} s, "
                             f"so every sample would be {self.n_steps} time step; use e.g. dt = 4ms")

    def events(self, i: int) -> np.ndarray:
        """The raw structured event array of sample ``i`` (t in µs)."""
        return self.data[i]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        ev = self.events(i)
        if is_camera(ev) != self.camera:
            raise ValueError("event layout does not match the dataset's sensor_shape")
        if self.clock == "fixed":
            counts = bin_events(ev, self._dt_us, t_max_us=self._t_max_us, sensor_shape=self.sensor_shape,
                                pool=self.pool)
            return torch.from_numpy(counts.astype(np.float32)), int(self.labels[i])
        edges = self.edges(i, ev)
        counts = bin_events_on_edges(ev, edges, sensor_shape=self.sensor_shape, pool=self.pool)
        steps = torch.from_numpy(np.diff(edges).astype(np.float64) * 1e-6)
        return torch.from_numpy(counts.astype(np.float32)), int(self.labels[i]), steps


def time_major_collate(batch: Sequence[tuple]) -> tuple[torch.Tensor, ...]:
    """Stack ``(x [T, ...], y)`` samples into ``(x [T, B, ...], y [B])``.

    Samples shorter than the longest are zero-padded at the end. Samples on their own clocks,
    ``(x [T, ...], y, steps [T])``, give ``(x, y, steps [T, B])``; their lengths must agree (a clock has no
    padding step), so event-time grids of different lengths go one sample per batch.
    """
    xs, ys = [item[0] for item in batch], [item[1] for item in batch]
    n_steps = max(x.shape[0] for x in xs)
    out = xs[0].new_zeros((n_steps, len(xs), *xs[0].shape[1:]))
    for b, x in enumerate(xs):
        out[: x.shape[0], b] = x
    labels = torch.as_tensor(ys, dtype=torch.int64)
    if len(batch[0]) < 3:
        return out, labels
    lengths = {int(item[2].shape[0]) for item in batch}
    if len(lengths) > 1:
        raise ValueError(f"samples on their own clocks have {sorted(lengths)} steps; batch them one at a time "
                         "(batch_size=1)")
    return out, labels, torch.stack([item[2] for item in batch], dim=1)


def _num_classes(labels: np.ndarray) -> int:
    return int(labels.max()) + 1 if labels.size else 0


CLOCKS = ("fixed", "regular", "jitter", "events")  # regular: the fixed grid, its step lengths served too

__all__ = ["CLOCKS", "EventDataset", "EventSource", "StaticImageDataset", "check_labels", "time_major_collate"]
