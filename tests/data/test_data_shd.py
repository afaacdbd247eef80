"""SHD/SSC HDF5: fixture round trip, float16 times, empty rows, binning."""

import h5py
import numpy as np
import pytest

from adaspike.data import load_dataset
from adaspike.data.events import bin_events, rebin_counts
from adaspike.data.shd import read_shd, read_shd_arrays, shd_path, write_shd_h5

KEYS = [f"word-{i}" for i in range(20)]


def _fixture(tmp_path, n=6, seed=0):
    rng = np.random.default_rng(seed)
    times, units = [], []
    for i in range(n):
        m = 0 if i == 2 else int(rng.integers(50, 400))  # sample 2 is an empty row
        times.append(np.sort(rng.uniform(0, 1.4, m)))
        units.append(rng.integers(0, 700, m))
    labels = rng.integers(0, 20, n)
    path = write_shd_h5(tmp_path / "shd_train.h5", times, units, labels, KEYS)
    return path, times, units, labels


def test_fixture_uses_the_published_layout(tmp_path):
    path, *_ = _fixture(tmp_path)
    with h5py.File(path) as f:
        assert h5py.check_vlen_dtype(f["spikes/times"].dtype) == np.float16
        assert h5py.check_vlen_dtype(f["spikes/units"].dtype) == np.uint16
        assert set(f["extra"]) >= {"keys", "speaker"}


def test_round_trip_with_empty_row_and_float64_times(tmp_path):
    path, times, units, labels = _fixture(tmp_path)
    raw_times, raw_units, raw_labels, _ = read_shd_arrays(path)
    data, keys = read_shd(path)
    assert keys == KEYS
    assert len(data) == len(labels) and data.labels.dtype == np.int64 and raw_labels.dtype == np.int64
    np.testing.assert_array_equal(data.labels, labels)
    assert len(data[2]) == 0 and len(raw_times[2]) == 0
    for i, (t, u) in enumerate(zip(times, units)):
        t64 = raw_times[i]
        assert t64.dtype == np.float64 and raw_units[i].dtype == np.int64
        assert np.isfinite(t64 * 1e6).all()
        np.testing.assert_array_equal(t64, np.asarray(t, dtype=np.float16).astype(np.float64))
        np.testing.assert_array_equal(data[i]["t"], np.rint(t64 * 1e6).astype(np.int64))
        np.testing.assert_array_equal(data[i]["unit"], u)


def test_bins_to_140_by_700_at_10ms_and_nests(tmp_path):
    path, *_ = _fixture(tmp_path)
    data, _ = read_shd(path)
    for i in range(len(data)):
        fine = bin_events(data[i], 5_000, t_max_us=1_400_000)
        coarse = bin_events(data[i], 10_000, t_max_us=1_400_000)
        assert coarse.shape == (140, 700)
        np.testing.assert_array_equal(rebin_counts(fine, 2), coarse)
        assert coarse.sum() == np.count_nonzero(data[i]["t"] < 1_400_000)


def test_dataset_items_and_channel_pooling(tmp_path):
    _fixture(tmp_path)
    ds = load_dataset("shd", "train", dt=0.01, root=str(tmp_path))
    x, y = ds[0]
    assert x.shape == (140, 700) and ds.input_shape == (700,) and ds.is_event_data
    assert ds.num_classes == 20 and ds.class_names == KEYS
    pooled = load_dataset("shd", "train", dt="10ms", root=str(tmp_path), pool=5)
    xp, _ = pooled[0]
    assert xp.shape == (140, 140)
    assert xp.sum() == x.sum()
    assert load_dataset("shd", "train", root=str(tmp_path))[2][0].sum() == 0  # empty row
    assert len(load_dataset("shd", "train", root=str(tmp_path), limit=4)) == 4


def test_missing_file_names_path_and_source(tmp_path):
    with pytest.raises(FileNotFoundError, match="shd_test.h5"):
        shd_path(tmp_path, "shd", "test")
    with pytest.raises(ValueError, match="valid"):
        shd_path(tmp_path, "shd", "valid")
    with pytest.raises(ValueError, match="root"):
        load_dataset("ssc", "valid")


def test_corrupt_file_gives_clear_error(tmp_path):
    bad = tmp_path / "shd_train.h5"
    bad.write_bytes(b"not an hdf5 file")
    with pytest.raises(ValueError, match="shd_train.h5"):
        read_shd(bad)
