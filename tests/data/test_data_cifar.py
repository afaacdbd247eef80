"""CIFAR python batches: str keys, NCHW with R first, restricted unpickling."""

import os
import pickle

import numpy as np
import pytest

from adaspike.data.cifar import SafeUnpickler, load_cifar, safe_load_pickle, write_cifar_fixture


def _images(n, seed):
    return np.random.default_rng(seed).integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)


def test_cifar10_fixture_round_trip(tmp_path):
    train, test = _images(10, 0), _images(4, 1)
    names = [f"class{i}" for i in range(10)]
    write_cifar_fixture(tmp_path, train, list(range(10)), test, [3, 1, 4, 1], names)
    images, labels, class_names = load_cifar(tmp_path, "train")
    assert images.shape == (10, 3, 32, 32) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, train)
    assert labels.dtype == np.int64 and labels.tolist() == list(range(10))
    assert class_names == names
    test_images, test_labels, _ = load_cifar(tmp_path / "cifar-10-batches-py", "test")
    np.testing.assert_array_equal(test_images, test)
    assert test_labels.tolist() == [3, 1, 4, 1]


def test_bytes_keys_become_str_and_r_plane_comes_first(tmp_path):
    row = np.concatenate([np.full(1024, 10), np.full(1024, 20), np.full(1024, 30)]).astype(np.uint8)
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps({b"data": row[None], b"labels": [5]}, protocol=4))
    batch = safe_load_pickle(path)
    assert set(batch) == {"data", "labels"}
    image = batch["data"].reshape(-1, 3, 32, 32)[0]
    assert (image[0] == 10).all() and (image[1] == 20).all() and (image[2] == 30).all()


def test_cifar100_fine_labels(tmp_path):
    write_cifar_fixture(tmp_path, _images(3, 0), [0, 50, 99], _images(1, 1), [7], ["a"] * 100, num_classes=100)
    images, labels, names = load_cifar(tmp_path, "train", num_classes=100)
    assert images.shape == (3, 3, 32, 32) and labels.tolist() == [0, 50, 99] and len(names) == 100


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_malicious_pickle_is_refused_naming_the_global(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({"data": _Evil()}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match=r"(posix|os|nt)\.system"):
        safe_load_pickle(path)


@pytest.mark.parametrize("module, name", [("builtins", "eval"), ("numpy", "load"), ("subprocess", "Popen")])
def test_only_numpy_array_globals_resolve(module, name):
    unpickler = SafeUnpickler(open(os.devnull, "rb"))
    with pytest.raises(pickle.UnpicklingError, match=f"{module}.{name}"):
        unpickler.find_class(module, name)
    assert unpickler.find_class("numpy.core.multiarray", "_reconstruct") is unpickler.find_class(
        "numpy._core.multiarray", "_reconstruct"
    )


def test_missing_and_truncated_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
        load_cifar(tmp_path)
    path = tmp_path / "cut"
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)}, protocol=4)[:-40])
    with pytest.raises(ValueError, match="cut"):
        safe_load_pickle(path)


def test_cifar_is_a_registered_static_dataset(tmp_path):
    from adaspike.data import DATASETS, load_dataset

    assert {"cifar10", "cifar100"} <= set(DATASETS)
    train = _images(10, 0)
    write_cifar_fixture(tmp_path, train, list(range(10)), _images(2, 1), [5, 6], [f"c{i}" for i in range(10)])
    data = load_dataset("cifar10", "train", root=str(tmp_path), limit=3)
    x, y = data[2]
    assert len(data) == 3 and x.shape == (3, 32, 32) and str(x.dtype) == "torch.float32" and y == 2
    assert float(x.max()) <= 1.0 and data.num_classes == 10 and data.class_names[9] == "c9"
    np.testing.assert_allclose(x.numpy(), train[2] / 255.0, rtol=1e-6)
    assert [int(v) for _, v in load_dataset("cifar10", "test", root=str(tmp_path))] == [5, 6]
    with pytest.raises(ValueError, match="static image dataset; dt must be None"):
        load_dataset("cifar10", dt="4ms", root=str(tmp_path))
    with pytest.raises(ValueError, match="needs root"):
        load_dataset("cifar10")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['label'\] for dataset cifar10"):
        load_dataset("cifar10", root=str(tmp_path), label="coarse")
    write_cifar_fixture(tmp_path, _images(2, 2), [0, 99], _images(1, 3), [7], ["a"] * 100, num_classes=100)
    assert load_dataset("cifar100", root=str(tmp_path), label="fine").num_classes == 100
