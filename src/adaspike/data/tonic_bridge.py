"""Bridge to tonic: its event arrays, datasets and transforms, read into adaspike's binned event datasets.

tonic stays optional: nothing here imports it. A tonic dataset is anything indexable that returns
``(events, target)`` with ``sensor_size`` (and ideally ``targets``); a tonic transform is any callable on a
tonic event array. tonic's layouts are structured numpy arrays with ``t`` in integer microseconds and

* camera events ``x, y, t, p`` with ``sensor_size = (W, H, P)`` (N-MNIST, DVS Gesture, ...);
* audio/spike-train events ``t, x, p`` with ``sensor_size = (channels, 1, 1)`` (SHD, SSC), ``x`` the channel.

Field order does not matter, only names. adaspike's own layouts (``CAMERA_DTYPE``, ``AUDIO_DTYPE``) keep the
same names for cameras and call the channel ``unit``; :func:`from_tonic_events` converts, and
:class:`TonicEvents` / :func:`tonic_event_dataset` turn a whole tonic dataset into an
:class:`~adaspike.data.EventDataset` binned at any ``dt`` (with adaspike's exact bin nesting).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .events import AUDIO_DTYPE, CAMERA_DTYPE, audio_events, camera_events
from .samples import EventDataset

__all__ = ["TonicEvents", "from_tonic_events", "sensor_shape_from_tonic", "tonic_event_dataset"]


def sensor_shape_from_tonic(sensor_size: Sequence[int]) -> tuple[int, ...]:
    """tonic's ``(W, H, P)`` -> adaspike's ``(H, W)`` for cameras; ``(channels, 1, 1)`` -> ``(channels,)``."""
    size = tuple(int(s) for s in sensor_size)
    if len(size) == 1 or (len(size) == 3 and size[1:] == (1, 1)):
        return (size[0],)
    if len(size) == 3 and size[2] <= 2:  # tonic's sensor_size is (W, H, P); adaspike's camera shape is (H, W)
        return (size[1], size[0])
    if len(size) == 2:
        return (size[1], size[0])
    raise ValueError(f"unsupported tonic sensor_size {size}: expected (W, H, P) with P <= 2 or (channels, 1, 1)")


def _times_us(t: np.ndarray) -> np.ndarray:
    if np.issubdtype(t.dtype, np.floating):
        if t.size and not np.all(np.isfinite(t)):
            raise ValueError("tonic event times must be finite")
        rounded = np.rint(t)
        # float µs from tonic carry at most rounding noise; fractions of a µs mean the times are in seconds
        if t.size and np.max(np.abs(t - rounded)) > 1e-6 * max(1.0, float(np.max(np.abs(t)))):
            raise ValueError("tonic event times are in microseconds; these have fractions (seconds? multiply by 1e6)")
        t = rounded
    t = t.astype(np.int64)
    if t.size and t.min() < 0:
        raise ValueError(f"event times must be >= 0 µs, got minimum {t.min()}")
    return t


def from_tonic_events(events: np.ndarray, sensor_size: Sequence[int] | None = None) -> np.ndarray:
    """A tonic-layout event array as adaspike's ``CAMERA_DTYPE`` (``x, y, t, p``) or ``AUDIO_DTYPE`` (``t, unit``).

    Camera events need fields ``x, y, t, p``; audio events ``t, x`` (``p`` ignored: tonic sets it to 0 or 1 for
    every spike of SHD/SSC). Polarities become 0/1 (bool, 0/1 and −1/+1 all map to off/on). With
    ``sensor_size``, coordinates outside the sensor raise here, naming the field, not later in binning.
    """
    names = set(getattr(events.dtype, "names", None) or ())
    if events.dtype in (CAMERA_DTYPE, AUDIO_DTYPE):
        return events
    if not names:
        raise ValueError("expected a structured event array with fields x, y, t, p or t, x, p (tonic's layout); "
                         f"got a plain {events.dtype} array of shape {events.shape} (frames from ToFrame cannot "
                         "be re-binned: apply only event-to-event transforms)")
    if "t" not in names:
        raise ValueError(f"tonic events have no 't' field (fields {sorted(names)})")
    shape = sensor_shape_from_tonic(sensor_size) if sensor_size is not None else None
    t = _times_us(np.asarray(events["t"]))
    if {"x", "y", "p"} <= names:
        x, y = np.asarray(events["x"]).astype(np.int64), np.asarray(events["y"]).astype(np.int64)
        p = (np.asarray(events["p"]).astype(np.int64) > 0).astype(np.int8)
        if shape is not None:
            for name, values, size in (("x", x, shape[-1]), ("y", y, shape[0])):
                if values.size and (values.min() < 0 or values.max() >= size):
                    raise ValueError(f"tonic event {name} outside 0..{size - 1} of sensor_size {tuple(sensor_size)}")
        return camera_events(x, y, t, p)
    if "x" in names and "y" not in names:
        unit = np.asarray(events["x"]).astype(np.int64)
        if shape is not None and unit.size and (unit.min() < 0 or unit.max() >= shape[0]):
            raise ValueError(f"tonic event x (channel) outside 0..{shape[0] - 1} of sensor_size {tuple(sensor_size)}")
        return audio_events(t, unit)
    raise ValueError(f"unknown tonic event layout with fields {sorted(names)}; expected x, y, t, p or t, x, p")


class TonicEvents:
    """A tonic dataset as an adaspike event source: ``labels`` up front, items are adaspike event arrays.

    ``dataset[i]`` must return ``(events, target)``; ``transform`` (a tonic transform, or any callable on tonic
    events) runs before conversion. Labels are read from ``labels``, else ``dataset.targets``, else by
    loading every sample once. ``sensor_size`` defaults to ``dataset.sensor_size``.
    """

    def __init__(self, dataset, transform: Callable | None = None, sensor_size: Sequence[int] | None = None,
                 labels: Sequence[int] | None = None):
        self.dataset, self.transform = dataset, transform
        self.sensor_size = tuple(sensor_size if sensor_size is not None else getattr(dataset, "sensor_size", ()))
        if not self.sensor_size:
            raise ValueError("pass sensor_size: the dataset has no sensor_size attribute")
        self.sensor_shape = sensor_shape_from_tonic(self.sensor_size)
        if labels is None:
            labels = getattr(dataset, "targets", None)
        if labels is None:  # nothing cheaper: read each sample's target once
            labels = [dataset[i][1] for i in range(len(dataset))]
        self.labels = np.asarray([int(np.asarray(label)) for label in labels], dtype=np.int64)
        if len(self.labels) != len(dataset):
            raise ValueError(f"{len(self.labels)} labels for {len(dataset)} samples")

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> np.ndarray:
        events, _ = self.dataset[i]
        if self.transform is not None:
            events = self.transform(events)
        return from_tonic_events(np.asarray(events), self.sensor_size)

    def t_max(self) -> float:
        """The latest event time over all samples, in seconds (reads every sample)."""
        last = max((int(ev["t"].max()) for ev in (self[i] for i in range(len(self))) if ev.size), default=0)
        return (last + 1) * 1e-6


def tonic_event_dataset(dataset, dt: float, t_max: float | None = None, transform: Callable | None = None,
                        pool: int = 1, sensor_size: Sequence[int] | None = None,
                        labels: Sequence[int] | None = None, class_names: Sequence[str] | None = None) -> EventDataset:
    """A tonic dataset served as adaspike's ``EventDataset``: float32 counts ``[T, *features]`` at step ``dt``.

    ``t_max`` (seconds) fixes the window; by default it is the latest event over the dataset (one full read).
    ``class_names`` default to ``dataset.classes`` when tonic provides them.
    """
    source = TonicEvents(dataset, transform=transform, sensor_size=sensor_size, labels=labels)
    if t_max is None:
        t_max = source.t_max()
    names = class_names if class_names is not None else getattr(dataset, "classes", None)
    return EventDataset(source, dt, t_max, source.sensor_shape, pool, class_names=names)
