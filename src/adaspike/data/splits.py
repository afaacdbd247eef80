"""Deterministic, class-balanced validation splits carved from a training set.

The test split is never used to choose a model: :func:`validation_split` holds out part of the *training* data.
When the data carry ``groups`` (speakers of a speech set), whole groups are held out, so validation voices are
unseen, as the test voices are; otherwise each class contributes the same fraction of its samples.
"""
from __future__ import annotations

import hashlib

import numpy as np
from torch.utils.data import Dataset, Subset

__all__ = ["subset_of", "validation_split", "split_dataset"]

# attributes training code reads off a dataset; a subset keeps them (per-sample ones are indexed)
_SHARED = ("dt", "input_shape", "num_classes", "is_event_data", "class_names", "n_steps", "t_max", "audio_config")
_PER_SAMPLE = ("labels", "groups", "sample_rates", "files")


def subset_of(data: Dataset, indices) -> Dataset:
    """``Subset(data, indices)`` that keeps the dataset attributes (per-sample ones follow the indices)."""
    indices = np.asarray(indices, dtype=np.int64)
    subset = Subset(data, indices.tolist())
    for name in _SHARED:
        if hasattr(data, name):
            setattr(subset, name, getattr(data, name))
    for name in _PER_SAMPLE:
        values = getattr(data, name, None)
        if values is not None:
            picked = np.asarray(values)[indices]
            setattr(subset, name, picked.tolist() if isinstance(values, list) else picked)
    return subset


def _rank(key: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def validation_split(labels, fraction: float = 0.15, seed: int = 0, groups=None) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices) of a training set with ``labels``.

    Without ``groups``: per class, ``round(fraction · n_c)`` samples (at least one when the class has two or
    more), chosen by a seeded permutation. With ``groups``: whole groups, ranked by a seeded hash (stable as
    samples are added), until about ``fraction`` of the samples are held out; at least one group stays in
    training. Both index arrays are sorted.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if not 0.0 < float(fraction) < 1.0:
        raise ValueError(f"the validation fraction must lie in (0, 1), got {fraction!r}")
    if labels.size < 2:
        raise ValueError(f"a validation split needs at least 2 training samples, got {labels.size}")
    held = np.zeros(labels.size, dtype=bool)
    if groups is not None:
        groups = np.asarray(groups).astype(str)
        if groups.shape != labels.shape:
            raise ValueError(f"groups has shape {groups.shape}, labels {labels.shape}")
        order = sorted(set(groups.tolist()), key=lambda g: _rank(g, seed))
        target = fraction * labels.size
        for group in order[:-1]:  # the last group always stays in training
            if held.sum() >= target:
                break
            held |= groups == group
    else:
        rng = np.random.default_rng(seed)
        for cls in np.unique(labels):
            members = np.flatnonzero(labels == cls)
            take = int(round(fraction * members.size))
            if members.size >= 2:
                take = min(max(take, 1), members.size - 1)
            else:
                take = 0
            held[rng.permutation(members)[:take]] = True
    return np.flatnonzero(~held), np.flatnonzero(held)


def split_dataset(data: Dataset, fraction: float = 0.15, seed: int = 0) -> tuple[Dataset, Dataset]:
    """(train, validation) subsets of a training dataset, by :func:`validation_split` on its labels/groups."""
    labels = getattr(data, "labels", None)
    if labels is None:
        raise ValueError(f"{type(data).__name__} has no `labels`; a class-balanced validation split needs them")
    train_idx, val_idx = validation_split(labels, fraction, seed, getattr(data, "groups", None))
    if val_idx.size == 0:
        raise ValueError(f"the validation split of {len(labels)} samples is empty; use a larger fraction")
    return subset_of(data, train_idx), subset_of(data, val_idx)

