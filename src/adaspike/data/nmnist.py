"""N-MNIST ATIS ``.bin`` files: 5-byte event records, a writer for fixtures, the folder layout.

Record (big-endian across its 40 bits): byte 0 = x, byte 1 = y, top bit of
byte 2 = polarity (1 = ON), remaining 23 bits = timestamp in µs.  Records with
``y == 240`` mark a timestamp overflow; they are always dropped, and the
``2**13`` µs offset that one published loader adds after each of them is
applied only with ``overflow_offset=True`` (the right offset is unconfirmed,
and overflow cannot happen within a 300 ms N-MNIST sample).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .events import camera_events

RECORD_BYTES = 5
OVERFLOW_Y = 240
OVERFLOW_OFFSET_US = 1 << 13
MAX_TIMESTAMP_US = (1 << 23) - 1
SPLIT_DIRS = {"train": "Train", "test": "Test"}


def decode_atis(buffer: bytes, overflow_offset: bool = False, source: str = "<bytes>") -> np.ndarray:
    """Decode ATIS records into a :data:`~adaspike.data.events.CAMERA_DTYPE` array."""
    if len(buffer) % RECORD_BYTES:
        raise ValueError(
            f"{source}: {len(buffer)} bytes is not a multiple of {RECORD_BYTES}; the file is truncated or not ATIS"
        )
    # Widen before shifting: uint8 << 16 would overflow.
    rec = np.frombuffer(buffer, dtype=np.uint8).reshape(-1, RECORD_BYTES).astype(np.uint32)
    x, y = rec[:, 0], rec[:, 1]
    p = rec[:, 2] >> 7
    t = ((rec[:, 2] & 0x7F) << 16) | (rec[:, 3] << 8) | rec[:, 4]
    t = t.astype(np.int64)
    overflow = y == OVERFLOW_Y
    if overflow_offset:
        t = t + np.cumsum(overflow) * OVERFLOW_OFFSET_US
    keep = ~overflow
    return camera_events(x[keep], y[keep], t[keep], p[keep])


def encode_atis(events: np.ndarray) -> bytes:
    """Encode camera events as ATIS records (inverse of :func:`decode_atis`, for fixtures)."""
    x, y, t, p = (events[f].astype(np.int64) for f in ("x", "y", "t", "p"))
    if x.size:
        if x.min() < 0 or x.max() > 255 or y.min() < 0 or y.max() > 255:
            raise ValueError("ATIS x and y must fit in one byte")
        if (y == OVERFLOW_Y).any():
            raise ValueError(f"y == {OVERFLOW_Y} is reserved for overflow records")
        if t.min() < 0 or t.max() > MAX_TIMESTAMP_US:
            raise ValueError(f"ATIS timestamps must lie in [0, {MAX_TIMESTAMP_US}] µs")
        if not np.isin(p, (0, 1)).all():
            raise ValueError("ATIS polarity must be 0 or 1")
    rec = np.empty((len(t), RECORD_BYTES), dtype=np.uint8)
    rec[:, 0], rec[:, 1] = x, y
    rec[:, 2] = (p << 7) | (t >> 16)
    rec[:, 3] = (t >> 8) & 0xFF
    rec[:, 4] = t & 0xFF
    return rec.tobytes()


def read_nmnist_bin(path: str | Path, overflow_offset: bool = False) -> np.ndarray:
    """Read one ``.bin`` file into camera events (t in µs)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"N-MNIST file not found: {path}")
    return decode_atis(path.read_bytes(), overflow_offset, source=str(path))


def write_nmnist_bin(path: str | Path, events: np.ndarray) -> Path:
    """Write camera events as an ATIS ``.bin`` file (fixture writer)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_atis(events))
    return path


def list_nmnist_files(root: str | Path, split: str = "train") -> tuple[list[Path], np.ndarray]:
    """Paths and int64 labels of ``root/{Train,Test}/<digit>/*.bin`` (sorted, deterministic)."""
    if split not in SPLIT_DIRS:
        raise ValueError(f"N-MNIST split must be 'train' or 'test', got {split!r}")
    folder = Path(root) / SPLIT_DIRS[split]
    if not folder.is_dir():
        raise FileNotFoundError(
            f"N-MNIST folder not found: {folder}. Download N-MNIST (Orchard et al. 2015), unzip Train.zip "
            f"and Test.zip into {Path(root)} so that it holds Train/0..9/*.bin and Test/0..9/*.bin"
        )
    paths: list[Path] = []
    labels: list[int] = []
    for class_dir in sorted(d for d in folder.iterdir() if d.is_dir() and d.name.isdigit()):
        if int(class_dir.name) > 9:  # N-MNIST has the ten digit classes 0..9
            raise ValueError(f"N-MNIST class folder {class_dir} is not a digit 0..9")
        files = sorted(class_dir.glob("*.bin"))
        paths.extend(files)
        labels.extend([int(class_dir.name)] * len(files))
    if not paths:
        raise FileNotFoundError(f"no .bin files under {folder}/<digit>/; expected e.g. {folder}/0/00002.bin")
    return paths, np.asarray(labels, dtype=np.int64)


class NMNISTFiles:
    """Lazy event source over one split of an N-MNIST tree: ``files[i]`` reads sample i.

    With ``limit``, keeps a class-balanced prefix (classes taken in turn),
    since the tree itself is ordered by class.
    """

    def __init__(
        self, root: str | Path, split: str = "train", overflow_offset: bool = False, limit: int | None = None
    ) -> None:
        paths, labels = list_nmnist_files(root, split)
        if limit is not None:
            rank = np.concatenate([np.arange(n) for n in np.unique(labels, return_counts=True)[1]])
            keep = np.lexsort((labels, rank))[: int(limit)]  # labels are sorted, so rank is per class
            paths, labels = [paths[i] for i in keep], labels[keep]
        self.paths, self.labels = paths, labels
        self.overflow_offset = overflow_offset

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        return read_nmnist_bin(self.paths[i], self.overflow_offset)
