"""On-disk cache for generated event sets (single ``.npz`` files, no pickle).

The cache directory is ``$ADASPIKE_CACHE`` or ``~/.cache/adaspike``.  A file
name carries a hash of everything that shaped its content (generator
parameters, source, library version), so a change of parameters never
returns stale data.  Writes go to a temporary file in the same directory
and are moved into place with ``os.replace``, which is atomic, so readers
never see half-written files even when two processes build the same set.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..report.io import atomic_write

CACHE_FORMAT_VERSION = 1


def cache_dir() -> Path:
    """The cache directory (created on demand by writers, not here)."""
    env = os.environ.get("ADASPIKE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "adaspike"


def cache_key(name: str, params: dict[str, Any]) -> str:
    """A file-name-safe key: ``name-<16 hex digits of sha256(params, format version)>``."""
    payload = json.dumps({"params": params, "format": CACHE_FORMAT_VERSION}, sort_keys=True, default=str)
    digest = hashlib.sha256(payload.encode()).hexdigest()[:16]
    return f"{name}-{digest}"


def atomic_save_npz(path: Path, arrays: dict[str, np.ndarray], level: int = 1) -> None:
    """Write a deflated ``.npz`` atomically (via :func:`adaspike.report.io.atomic_write`).

    Deflate level 1 is several times faster than ``np.savez_compressed``'s
    default and nearly as small for event columns.
    """
    def write(fh) -> None:
        with zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
            for name, array in arrays.items():
                with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)

    atomic_write(path, write)  # the package's one atomic writer (mode from the umask, orphans removed)


class EventSet:
    """Many event arrays stored end to end: ``events[offsets[i]:offsets[i + 1]]`` is sample i."""

    def __init__(self, events: np.ndarray, offsets: np.ndarray, labels: np.ndarray) -> None:
        offsets = np.asarray(offsets, dtype=np.int64)
        if len(offsets) != len(labels) + 1 or offsets[0] != 0 or offsets[-1] != len(events):
            raise ValueError("EventSet offsets must start at 0, end at len(events) and have len(labels) + 1 items")
        self.events = events
        self.offsets = offsets
        self.labels = np.asarray(labels, dtype=np.int64)

    @classmethod
    def from_list(cls, events: list[np.ndarray], labels: np.ndarray, dtype: np.dtype) -> "EventSet":
        offsets = np.concatenate([[0], np.cumsum([len(e) for e in events], dtype=np.int64)])
        flat = np.concatenate(events).astype(dtype) if events else np.zeros(0, dtype)
        return cls(flat, offsets, labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.events[self.offsets[i] : self.offsets[i + 1]]

    def subset(self, indices: np.ndarray) -> "EventSet":
        """A new set holding only ``indices`` (copies the selected events)."""
        return EventSet.from_list([self[int(i)] for i in indices], self.labels[indices], self.events.dtype)


def save_event_set(path: Path, data: EventSet, meta: dict[str, Any]) -> None:
    """Store an :class:`EventSet` as one ``.npz``: a column per field, offsets, labels, JSON meta."""
    arrays = {f"field_{name}": _narrow(data.events[name]) for name in data.events.dtype.names}
    arrays.update(offsets=data.offsets, labels=data.labels, meta=np.array(json.dumps(meta, sort_keys=True)))
    arrays["dtype"] = np.array(json.dumps(data.events.dtype.descr))
    atomic_save_npz(path, arrays)


def load_event_set(path: Path) -> tuple[EventSet, dict[str, Any]]:
    """Read a file written by :func:`save_event_set` (``allow_pickle=False``)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            dtype = np.dtype([tuple(f) for f in json.loads(str(npz["dtype"]))])
            events = np.empty(len(npz[f"field_{dtype.names[0]}"]), dtype=dtype)
            for name in dtype.names:
                events[name] = npz[f"field_{name}"]
            meta = json.loads(str(npz["meta"]))
            return EventSet(events, npz["offsets"], npz["labels"]), meta
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"cache file {path} is unreadable ({exc}); delete it to rebuild") from exc


def cached_event_set(name: str, params: dict[str, Any], build: Callable[[], EventSet]) -> EventSet:
    """Load the event set for ``(name, params)`` from the cache, building and storing it on a miss.

    A corrupt cache file is rebuilt rather than trusted.
    """
    path = cache_dir() / f"{cache_key(name, params)}.npz"
    if path.exists():
        try:
            data, meta = load_event_set(path)
            if meta.get("params") == json.loads(json.dumps(params, default=str)):
                return data
        except ValueError:
            pass
    data = build()
    save_event_set(path, data, {"name": name, "params": params})
    return data


def _narrow(column: np.ndarray) -> np.ndarray:
    """Smallest integer type that holds the column exactly (smaller, faster cache files)."""
    if column.size == 0 or column.dtype.kind not in "iu":
        return column
    lo, hi = int(column.min()), int(column.max())
    for candidate in (np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32):
        info = np.iinfo(candidate)
        if info.min <= lo and hi <= info.max:
            return column.astype(candidate)
    return column
