"""IDX files (MNIST, Fashion-MNIST): reader, fixture writer and the two loaders.

Layout (all integers big-endian): two zero bytes, a type code (only
0x08 = uint8 is supported), the number of dimensions d, d uint32 sizes,
then the raw row-major data.  Files may be gzip-compressed.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

UINT8_CODE = 0x08
FASHION_MNIST_ROOT = Path("/usr/share/datasets/fashion-mnist")
_GZIP_MAGIC = b"\x1f\x8b"
_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (raw or gzip, detected by content) into a uint8 array.

    Raises ``ValueError`` naming the file for a bad magic, a type code other
    than 0x08, or a size that does not match the header.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ValueError(f"{path}: corrupt or truncated gzip stream ({exc})") from exc
    if len(raw) < 4 or raw[:2] != b"\x00\x00":
        raise ValueError(f"{path}: not an IDX file (expected two zero bytes at offset 0)")
    code, ndim = raw[2], raw[3]
    if code != UINT8_CODE:
        raise ValueError(f"{path}: IDX type code 0x{code:02x} is not supported (only 0x08 = uint8)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(raw)} bytes, need {header})")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected:
        raise ValueError(f"{path}: IDX size mismatch, header {dims} implies {expected} bytes, file has {len(raw)}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write a uint8 array as IDX; gzip-compressed when the name ends in ``.gz`` (for fixtures)."""
    path = Path(path)
    arr = np.ascontiguousarray(array)
    if arr.dtype != np.uint8:
        raise ValueError(f"write_idx supports uint8 only, got {arr.dtype}")
    blob = bytes([0, 0, UINT8_CODE, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()
    path.write_bytes(gzip.compress(blob) if path.suffix == ".gz" else blob)
    return path


def load_idx_pair(root: str | Path, split: str, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 1, H, W)`` uint8 and int64 labels of an MNIST-layout directory."""
    if split not in _FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    root = Path(root)
    paths = [root / name for name in _FILES[split]]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(
            f"{what} files not found: {', '.join(missing)}. Expected the IDX files "
            f"{', '.join(_FILES[split])} in {root}"
        )
    images, labels = (read_idx(p) for p in paths)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{root}: expected images (N, H, W) and N labels, got {images.shape} and {labels.shape}")
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() > 9):  # MNIST and Fashion-MNIST: ten classes
        bad = int(labels.max()) if labels.max() > 9 else int(labels.min())
        raise ValueError(f"{paths[1]}: label {bad} is outside 0..9 (MNIST-layout files have 10 classes)")
    return images[:, None], labels


def load_fashion_mnist(root: str | Path | None = None, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST images ``(N, 1, 28, 28)`` uint8 and int64 labels.

    ``root`` defaults to Debian's ``/usr/share/datasets/fashion-mnist``
    (``apt-get install dataset-fashion-mnist``).
    """
    return load_idx_pair(root or FASHION_MNIST_ROOT, split, "Fashion-MNIST (apt-get install dataset-fashion-mnist)")


def load_mnist(root: str | Path, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """MNIST images ``(N, 1, 28, 28)`` uint8 and int64 labels from IDX files in ``root``."""
    return load_idx_pair(root, split, "MNIST")
