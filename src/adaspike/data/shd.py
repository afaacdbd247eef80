"""Spiking Heidelberg Digits (SHD) and Spiking Speech Commands (SSC) HDF5 files.

Layout: ``/spikes/times`` (variable-length float16 seconds per sample),
``/spikes/units`` (variable-length unsigned ints, 0..699), ``/labels``,
``/extra/keys`` (class names).  Times are cast to float64 before any
arithmetic (float16 ``* 1e6`` overflows to inf) and then rounded to int64 µs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .cache import EventSet
from .events import AUDIO_DTYPE, audio_events, seconds_to_us

N_CHANNELS = 700
SPLITS = {"shd": ("train", "test"), "ssc": ("train", "valid", "test")}


def shd_path(root: str | Path, name: str = "shd", split: str = "train") -> Path:
    """``root/{name}_{split}.h5``, or ``root`` itself when it is that very file; checks that it exists.

    A file named for another split is refused: one file serving as both train and test split leaks silently.
    """
    if name not in SPLITS:
        raise ValueError(f"dataset must be 'shd' or 'ssc', got {name!r}")
    if split not in SPLITS[name]:
        raise ValueError(f"{name} split must be one of {SPLITS[name]}, got {split!r}")
    root = Path(root)
    expected = f"{name}_{split}.h5"
    if root.is_file() and root.name != expected:
        raise ValueError(f"{root} is a file, but the {split} split must be read from {expected}: pass the folder "
                         f"holding {name}_*.h5 as root (one file for every split would leak test data)")
    path = root if root.is_file() else root / expected
    if not path.is_file():
        raise FileNotFoundError(
            f"{name.upper()} file not found: {path}. Download {name}_{split}.h5.zip from "
            f"https://zenkelab.org/resources/spiking-heidelberg-datasets-shd/ and unzip it into {root}"
        )
    return path


def read_shd_arrays(path: str | Path) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray, list[str]]:
    """Raw rows of an SHD/SSC file: float64 times (s), int64 units, int64 labels, class names.

    Rows are checked (matching lengths, units in range); empty rows are kept.
    """
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            # float64 first: float16 arithmetic overflows (times * 1e6 -> inf).
            times = [np.asarray(t).astype(np.float64) for t in f["spikes/times"][:]]
            units = [np.asarray(u).astype(np.int64) for u in f["spikes/units"][:]]
            labels = np.asarray(f["labels"][:]).astype(np.int64)
            keys = [_text(k) for k in np.atleast_1d(f["extra/keys"][:])] if "extra/keys" in f else []
    except (OSError, KeyError) as exc:
        raise ValueError(f"{path}: not a readable SHD/SSC HDF5 file ({exc})") from exc
    if not len(times) == len(units) == len(labels):
        raise ValueError(f"{path}: {len(times)} time rows, {len(units)} unit rows and {len(labels)} labels differ")
    for i, (t, u) in enumerate(zip(times, units)):
        if len(t) != len(u):
            raise ValueError(f"{path}: sample {i} has {len(t)} times but {len(u)} units")
        if u.size and (u.min() < 0 or u.max() >= N_CHANNELS):
            raise ValueError(f"{path}: sample {i} has units outside [0, {N_CHANNELS})")
    if labels.size and (labels.min() < 0 or (keys and labels.max() >= len(keys))):
        bad = int(labels.min()) if labels.min() < 0 else int(labels.max())
        raise ValueError(f"{path}: label {bad} is outside 0..{len(keys) - 1 if keys else 'N'} "
                         f"({len(keys)} classes named in extra/keys)" if keys else f"{path}: negative label {bad}")
    return times, units, labels, keys


def read_shd(path: str | Path) -> tuple[EventSet, list[str]]:
    """Read an SHD/SSC file into an :class:`EventSet` of AUDIO_DTYPE events (t in µs) and the class names."""
    times, units, labels, keys = read_shd_arrays(path)
    events = [audio_events(seconds_to_us(t), u) for t, u in zip(times, units)]
    return EventSet.from_list(events, labels, AUDIO_DTYPE), keys


def write_shd_h5(
    path: str | Path,
    times_list: Sequence[np.ndarray],
    units_list: Sequence[np.ndarray],
    labels: Sequence[int],
    keys: Sequence[str],
) -> Path:
    """Write a fixture in the SHD layout: vlen float16 times, vlen uint16 units, labels, keys."""
    import h5py

    path = Path(path)
    with h5py.File(path, "w") as f:
        times = f.create_dataset("spikes/times", (len(times_list),), dtype=h5py.vlen_dtype(np.float16))
        units = f.create_dataset("spikes/units", (len(units_list),), dtype=h5py.vlen_dtype(np.uint16))
        for i, (t, u) in enumerate(zip(times_list, units_list)):
            times[i] = np.asarray(t, dtype=np.float16)
            units[i] = np.asarray(u, dtype=np.uint16)
        f.create_dataset("labels", data=np.asarray(labels, dtype=np.uint16))
        f.create_dataset("extra/keys", data=np.array([k.encode() for k in keys]))
        f.create_dataset("extra/speaker", data=np.zeros(len(labels), dtype=np.uint16))
    return path


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
