"""IDX files: header, size check, type code, gzip, and the real Fashion-MNIST when installed."""

import gzip

import numpy as np
import pytest

from adaspike.data.idx import FASHION_MNIST_ROOT, load_fashion_mnist, load_mnist, read_idx, write_idx


def test_round_trip_raw_and_gzip(tmp_path):
    arr = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    for name in ("a-idx3-ubyte", "a-idx3-ubyte.gz"):
        np.testing.assert_array_equal(read_idx(write_idx(tmp_path / name, arr)), arr)


def test_header_layout_is_big_endian(tmp_path):
    path = write_idx(tmp_path / "h", np.zeros((60000, 28, 28), np.uint8))
    assert path.read_bytes()[:16].hex() == "00000803" "0000ea60" "0000001c" "0000001c"


def test_wrong_type_code_raises(tmp_path):
    path = tmp_path / "float.idx"
    path.write_bytes(bytes([0, 0, 0x0D, 1, 0, 0, 0, 1]) + b"\x00" * 4)
    with pytest.raises(ValueError, match="0x0d"):
        read_idx(path)


@pytest.mark.parametrize("change", [lambda b: b[:-1], lambda b: b[:-30], lambda b: b + b"\x00"])
def test_size_mismatch_raises(tmp_path, change):
    path = write_idx(tmp_path / "x", np.ones((4, 10), np.uint8))
    path.write_bytes(change(path.read_bytes()))
    with pytest.raises(ValueError, match="size mismatch"):
        read_idx(path)


def test_truncated_header_raises(tmp_path):
    path = tmp_path / "short"
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(ValueError, match="truncated IDX header"):
        read_idx(path)


def test_truncated_gzip_raises(tmp_path):
    path = tmp_path / "t.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 200]) + b"\x01" * 200)[:-12])
    with pytest.raises(ValueError, match="t.gz"):
        read_idx(path)


def test_mnist_layout_loader_and_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz"):
        load_mnist(tmp_path)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((3, 28, 28), np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([1, 2, 3], np.uint8))
    images, labels = load_mnist(tmp_path, "test")
    assert images.shape == (3, 1, 28, 28) and labels.dtype == np.int64


@pytest.mark.skipif(not (FASHION_MNIST_ROOT / "t10k-labels-idx1-ubyte.gz").exists(), reason="dataset-fashion-mnist")
def test_real_fashion_mnist():
    for split, n in (("train", 60000), ("test", 10000)):
        images, labels = load_fashion_mnist(split=split)
        assert images.shape == (n, 1, 28, 28) and images.dtype == np.uint8
        np.testing.assert_array_equal(np.bincount(labels), [n // 10] * 10)
