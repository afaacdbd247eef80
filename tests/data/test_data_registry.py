"""A dataset is one ``@register_dataset``: load_dataset, the static check, training defaults and default model."""
from __future__ import annotations

import numpy as np
import pytest

from adaspike.data import DATASETS, StaticImageDataset, load_dataset, register_dataset
from adaspike.studies.experiment import default_model, with_dataset_defaults


@pytest.fixture
def tiny():
    @register_dataset("test-tiny", static=True, defaults={"limit": 3}, model="ann")
    def build(split, dt, root, limit=None):
        images = np.zeros((5, 1, 2, 2), np.uint8)
        return StaticImageDataset(images[:limit], np.arange(5)[:limit])

    try:
        yield "test-tiny"
    finally:
        DATASETS.pop("test-tiny")


def test_one_registration_reaches_every_consumer(tiny):
    assert tiny in DATASETS and DATASETS[tiny].static
    assert len(load_dataset("Test_Tiny", limit=2)) == 2
    with pytest.raises(ValueError, match="static image dataset"):
        load_dataset(tiny, dt=1e-3)
    assert with_dataset_defaults(tiny, {}) == {"limit": 3}
    assert with_dataset_defaults(tiny, {"limit": 1}) == {"limit": 1}
    assert default_model(tiny) == "ann"


def test_the_registered_datasets_keep_their_defaults():
    assert default_model("nmnist") == "conv-snn" and default_model("shd") == "snn"
    assert with_dataset_defaults("shd", {}) == {"pool": 5}
    assert {"cifar10", "cifar100"} <= {name for name, entry in DATASETS.items() if entry.static}
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        load_dataset("nope")
