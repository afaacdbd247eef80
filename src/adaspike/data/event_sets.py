"""Generated event sets: static images passed through the event-camera simulator, cached on disk.

``event-digits`` converts scikit-learn's 8x8 digits with the fixed 80/20
stratified split of :func:`~adaspike.data.static.stratified_split` (seed 0);
``event-fashion-mnist`` converts Fashion-MNIST's own train/test split.
Each image's randomness is keyed by its index in the source set, so a
``limit``-ed set holds exactly the first events of the full one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .cache import EventSet, cached_event_set
from .event_camera import CameraConfig, images_to_events
from .events import CAMERA_DTYPE
from .idx import load_fashion_mnist
from .static import load_digits_images, stratified_split

DIGITS_SPLIT_SEED = 0
DIGITS_TEST_FRACTION = 0.2


def digits_split(split: str) -> np.ndarray:
    """Indices into the 1797 digits for ``split`` ('train' or 'test'); fixed for all versions."""
    _, labels = load_digits_images()
    train, test = stratified_split(labels, DIGITS_TEST_FRACTION, DIGITS_SPLIT_SEED)
    return _pick(split, train, test)


def event_digits(
    split: str = "train", limit: int | None = None, seed: int = 0, camera: CameraConfig | None = None
) -> EventSet:
    """Event recordings of the sklearn digits in ``split`` (the first ``limit`` of them)."""
    cfg = camera or CameraConfig()
    indices = _limit(digits_split(split), limit)
    params = {"source": "sklearn-digits", "split": split, "limit": limit, "seed": seed, "camera": cfg.as_dict()}

    def build() -> EventSet:
        images, labels = load_digits_images()
        return _convert(images[indices], labels[indices], indices, seed, cfg)

    return cached_event_set("event-digits", params, build)


def event_fashion_mnist(
    split: str = "train",
    limit: int | None = None,
    seed: int = 0,
    camera: CameraConfig | None = None,
    root: str | Path | None = None,
) -> EventSet:
    """Event recordings of Fashion-MNIST ``split`` (the first ``limit`` images)."""
    cfg = camera or CameraConfig()
    images, labels = load_fashion_mnist(root, split)
    indices = _limit(np.arange(len(labels)), limit)
    # Test images get stream ids after the train ids, so no two images share noise.
    stream_offset = 0 if split == "train" else 60_000
    params = {
        "source": "fashion-mnist",
        "split": split,
        "limit": limit,
        "seed": seed,
        "camera": cfg.as_dict(),
        "n_source": int(len(labels)),
    }

    def build() -> EventSet:
        return _convert(images[indices], labels[indices], indices + stream_offset, seed, cfg)

    return cached_event_set("event-fashion-mnist", params, build)


def _convert(images: np.ndarray, labels: np.ndarray, ids: np.ndarray, seed: int, cfg: CameraConfig) -> EventSet:
    events = images_to_events(images, seed, cfg, indices=ids)
    return EventSet.from_list(events, labels, CAMERA_DTYPE)


def _pick(split: str, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    if split == "train":
        return train
    if split == "test":
        return test
    raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def _limit(indices: np.ndarray, limit: int | None) -> np.ndarray:
    if limit is None:
        return indices
    if int(limit) != limit or limit < 1:
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    return indices[: int(limit)]
