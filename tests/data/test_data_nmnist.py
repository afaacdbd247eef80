"""N-MNIST ATIS .bin records: exact round trip, overflow records, truncation, folder layout."""

import numpy as np
import pytest

from adaspike.data import load_dataset, time_major_collate
from adaspike.data.events import camera_events
from adaspike.data.nmnist import (
    NMNISTFiles,
    decode_atis,
    encode_atis,
    list_nmnist_files,
    read_nmnist_bin,
    write_nmnist_bin,
)


def _random_events(n=1000, seed=0, sensor=256):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, sensor, n)
    y[y == 240] = 239
    return camera_events(rng.integers(0, sensor, n), y, np.sort(rng.integers(0, 2**23, n)), rng.integers(0, 2, n))


def test_thousand_events_round_trip_exactly(tmp_path):
    ev = _random_events()
    path = write_nmnist_bin(tmp_path / "00001.bin", ev)
    assert path.stat().st_size == 5000
    np.testing.assert_array_equal(read_nmnist_bin(path), ev)


def test_bit_layout_matches_spec():
    ev = camera_events([3], [7], [0x5A_BC_DE & 0x7FFFFF], [1])
    raw = encode_atis(ev)
    assert raw == bytes([3, 7, 0x80 | 0x5A, 0xBC, 0xDE])


def test_overflow_records_are_dropped_and_offset_only_on_request():
    normal = encode_atis(camera_events([1, 2], [1, 2], [10, 20], [0, 1]))
    overflow = bytes([0, 240, 0, 0, 0])
    raw = normal[:5] + overflow + normal[5:]
    ev = decode_atis(raw)
    assert len(ev) == 2 and 240 not in ev["y"]
    np.testing.assert_array_equal(ev["t"], [10, 20])
    np.testing.assert_array_equal(decode_atis(raw, overflow_offset=True)["t"], [10, 20 + 2**13])


def test_truncated_file_raises_clear_error(tmp_path):
    path = tmp_path / "bad.bin"
    path.write_bytes(encode_atis(_random_events(3))[:-2])
    with pytest.raises(ValueError, match=r"bad\.bin.*13 bytes is not a multiple of 5"):
        read_nmnist_bin(path)


def test_writer_refuses_reserved_y():
    with pytest.raises(ValueError, match="240"):
        encode_atis(camera_events([0], [240], [0], [0]))


def test_folder_dataset(tmp_path):
    for split, n in (("Train", 2), ("Test", 1)):
        for digit in (0, 7):
            for j in range(n):
                write_nmnist_bin(tmp_path / split / str(digit) / f"{j:05d}.bin", _random_events(200, j, 34))
    paths, labels = list_nmnist_files(tmp_path, "train")
    assert len(paths) == 4 and list(labels) == [0, 0, 7, 7]
    assert len(NMNISTFiles(tmp_path, "test")) == 2
    assert NMNISTFiles(tmp_path, "train", limit=3).labels.tolist() == [0, 7, 0]  # balanced prefix
    ds = load_dataset("nmnist", "train", dt=0.01, root=str(tmp_path), t_max=10.0)
    x, y = ds[3]
    assert x.shape == (1000, 2, 34, 34) and y == 7
    assert x.sum() == 200
    assert len(ds.events(0)) == 200
    xb, yb = time_major_collate([ds[0], ds[3]])
    assert xb.shape == (1000, 2, 2, 34, 34) and yb.tolist() == [0, 7]


def test_missing_folder_explains_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match="Train/0..9"):
        list_nmnist_files(tmp_path, "train")
