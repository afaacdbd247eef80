"""CIFAR-10 / CIFAR-100 "python version" batches, read with a restricted unpickler.

Pickles can run arbitrary code, so :class:`SafeUnpickler` resolves only
the globals that numpy array pickles need and refuses any other global,
naming it.  Batches are opened with ``encoding="latin1"`` and bytes keys
are normalised to str.  Images come out as uint8 NCHW (each row of
``data`` is the R plane, then G, then B, each 32x32 row-major).
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any, Sequence

import numpy as np

try:  # NumPy 2 moved the module; both names appear in pickles.
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - NumPy 1
    from numpy.core.multiarray import _reconstruct

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}
_LAYOUT = {
    10: ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], "test_batch", "batches.meta"),
    100: ("cifar-100-python", ["train"], "test", "meta"),
}


class UnsafePickleError(pickle.UnpicklingError, ValueError):
    """A pickle asked for a global outside the allow-list (a ValueError, so the CLI reports it in one line)."""


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that only resolves numpy's array-reconstruction globals."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(f"refusing to load global {module}.{name} from a CIFAR pickle") from None


def safe_load_pickle(path: str | Path) -> dict[str, Any]:
    """Load a CIFAR batch dict safely, with str keys."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR batch not found: {path}")
    try:
        obj = SafeUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{path}: {exc}") from exc
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, AttributeError, KeyError,
            MemoryError, OverflowError) as exc:
        raise ValueError(f"{path}: truncated or corrupt CIFAR pickle ({exc})") from exc
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a dict, got {type(obj).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def load_cifar(
    root: str | Path, split: str = "train", num_classes: int = 10, label: str = "fine"
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Images ``(N, 3, 32, 32)`` uint8, int64 labels and class names.

    ``root`` is the extracted folder (``cifar-10-batches-py`` / ``cifar-100-python``)
    or its parent.  ``label`` picks CIFAR-100's ``"fine"`` or ``"coarse"`` labels.
    """
    if num_classes not in _LAYOUT:
        raise ValueError(f"num_classes must be 10 or 100, got {num_classes!r}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder_name, train_files, test_file, meta_file = _LAYOUT[num_classes]
    root = Path(root)
    folder = root if root.name == folder_name else root / folder_name
    if not folder.is_dir():
        raise FileNotFoundError(
            f"CIFAR-{num_classes} folder not found: {folder}. Download the python version "
            f"(https://www.cs.toronto.edu/~kriz/cifar.html) and extract it into {root}"
        )
    label_key = "labels" if num_classes == 10 else f"{label}_labels"
    files = [folder / f for f in (train_files if split == "train" else [test_file])]
    batches = [safe_load_pickle(f) for f in files]
    images = np.concatenate([_images(b, f) for b, f in zip(batches, files)])
    labels = np.concatenate([_labels(b, f, label_key, num_classes, len(_field(b, "data", f))) for b, f in zip(batches, files)])
    meta = safe_load_pickle(folder / meta_file)
    names_key = "label_names" if num_classes == 10 else f"{label}_label_names"
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in meta.get(names_key, [])]
    return images, labels, names


def write_cifar_fixture(
    root: str | Path,
    images: np.ndarray,
    labels: Sequence[int],
    test_images: np.ndarray,
    test_labels: Sequence[int],
    label_names: Sequence[str],
    num_classes: int = 10,
) -> Path:
    """Write a tiny CIFAR tree of pickled dicts with bytes keys, like the originals (for tests)."""
    folder_name, train_files, test_file, meta_file = _LAYOUT[num_classes]
    folder = Path(root) / folder_name
    folder.mkdir(parents=True, exist_ok=True)
    key = b"labels" if num_classes == 10 else b"fine_labels"
    parts = np.array_split(np.arange(len(labels)), len(train_files))
    for name, idx in zip(train_files, parts):
        _dump(folder / name, {key: [int(labels[i]) for i in idx], b"data": _rows(images[idx])})
    _dump(folder / test_file, {key: [int(v) for v in test_labels], b"data": _rows(test_images)})
    names_key = b"label_names" if num_classes == 10 else b"fine_label_names"
    _dump(folder / meta_file, {names_key: [n.encode() for n in label_names]})
    return folder


def _field(batch: dict[str, Any], key: str, path: Path):
    if key not in batch:
        raise ValueError(f"{path}: malformed CIFAR batch, no {key!r} entry (found {sorted(map(str, batch))[:8]})")
    return batch[key]


def _images(batch: dict[str, Any], path: Path) -> np.ndarray:
    data = _field(batch, "data", path)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        shape = getattr(data, "shape", None)
        raise ValueError(f"{path}: CIFAR 'data' must be a uint8 array (N, 3072), got {type(data).__name__} "
                         f"{getattr(data, 'dtype', '')} {shape if shape is not None else ''}".rstrip())
    return data.reshape(-1, 3, 32, 32)


def _labels(batch: dict[str, Any], path: Path, key: str, num_classes: int, count: int) -> np.ndarray:
    raw = _field(batch, key, path)
    try:
        labels = np.asarray(raw, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{path}: CIFAR {key!r} must be a list of integers") from None
    if labels.ndim != 1 or len(labels) != count:
        raise ValueError(f"{path}: CIFAR {key!r} has shape {labels.shape}, expected ({count},) like 'data'")
    limit = num_classes if key != "coarse_labels" else 20
    if len(labels) and (labels.min() < 0 or labels.max() >= limit):
        raise ValueError(f"{path}: CIFAR {key!r} holds label {int(labels.max()) if labels.max() >= limit else int(labels.min())}"
                         f" outside 0..{limit - 1}")
    return labels


def _rows(images: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(images, dtype=np.uint8).reshape(len(images), -1)


def _dump(path: Path, obj: dict) -> None:
    # Protocol 4: Python 3 protocol 2 stores bytes through the global _codecs.encode,
    # which the safe loader rightly refuses; protocol 4 still pickles arrays via _reconstruct.
    path.write_bytes(pickle.dumps(obj, protocol=4))
