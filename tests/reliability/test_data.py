"""Bad dataset files in their real formats (SHD HDF5, N-MNIST folders, IDX, CIFAR pickles): each refused at load
time with a ValueError naming the file and the problem, instead of an IndexError epochs later."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from adaspike.data import load_cifar, load_dataset, safe_load_pickle, write_cifar_fixture
from adaspike.data.cifar import UnsafePickleError
from adaspike.data.events import CAMERA_DTYPE
from adaspike.data.idx import write_idx
from adaspike.data.nmnist import write_nmnist_bin
from adaspike.data.shd import write_shd_h5


def _shd(path, labels, keys=("a", "b", "c", "d")):
    n = len(labels)
    return write_shd_h5(path, [np.array([0.01, 0.02])] * n, [np.array([1, 2])] * n, labels, list(keys))


# ---- SHD -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("label", [4, 60000])
def test_shd_label_outside_classes(tmp_path, label):
    _shd(tmp_path / "shd_train.h5", [0, 1, label])
    with pytest.raises(ValueError, match=rf"label {label} is outside 0..3"):
        load_dataset("shd", "train", root=str(tmp_path))


def test_shd_good_labels_load(tmp_path):
    _shd(tmp_path / "shd_train.h5", [0, 3, 2])
    data = load_dataset("shd", "train", root=str(tmp_path))
    assert list(data.labels) == [0, 3, 2] and data.num_classes == 4


@pytest.mark.parametrize("split", ["test", "train"])
def test_shd_root_file_of_other_split_is_refused(tmp_path, split):
    """--root DIR/shd_train.h5 used to serve the same file as train AND test (silent leakage)."""
    _shd(tmp_path / "shd_train.h5", [0, 1])
    _shd(tmp_path / "shd_test.h5", [2, 3])
    file = tmp_path / ("shd_test.h5" if split == "train" else "shd_train.h5")
    with pytest.raises(ValueError, match=rf"must be read from shd_{split}.h5"):
        load_dataset("shd", split, root=str(file))
    # the matching file (and the folder) still work
    ok = load_dataset("shd", split, root=str(tmp_path / f"shd_{split}.h5"))
    assert list(ok.labels) == ([0, 1] if split == "train" else [2, 3])


# ---- N-MNIST -----------------------------------------------------------------------------------------------
def _nmnist(root, classes):
    ev = np.zeros(3, CAMERA_DTYPE)
    ev["x"], ev["y"], ev["t"], ev["p"] = [1, 2, 3], [1, 2, 3], [10, 20, 30], [0, 1, 0]
    for c in classes:
        write_nmnist_bin(root / "Train" / str(c) / "00001.bin", ev)


@pytest.mark.parametrize("folder", [10, 12, 99])
def test_nmnist_class_folder_outside_digits(tmp_path, folder):
    _nmnist(tmp_path, [0, 1, folder])
    with pytest.raises(ValueError, match=rf"Train/{folder} is not a digit 0..9"):
        load_dataset("nmnist", "train", root=str(tmp_path))


def test_nmnist_good_folders_load(tmp_path):
    _nmnist(tmp_path, [0, 9])
    assert sorted(load_dataset("nmnist", "train", root=str(tmp_path)).labels) == [0, 9]


# ---- IDX ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("label", [10, 200, 255])
def test_idx_label_outside_ten_classes(tmp_path, label):
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((3, 28, 28), np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.array([0, 1, label], np.uint8))
    with pytest.raises(ValueError, match=rf"label {label} is outside 0..9"):
        load_dataset("mnist", "train", root=str(tmp_path))


# ---- CIFAR -------------------------------------------------------------------------------------------------
def _cifar(tmp_path, labels=(0, 1, 2, 3, 4)):
    images = np.zeros((len(labels), 3, 32, 32), np.uint8)
    return write_cifar_fixture(tmp_path, images, list(labels), images[:2], [0, 1], [f"c{i}" for i in range(10)])


def _overwrite(path, obj):
    path.write_bytes(pickle.dumps(obj, protocol=4))


CIFAR_CASES = [
    ("no-data-key", {b"labels": [0]}, "no 'data' entry"),
    ("no-labels-key", {b"data": np.zeros((1, 3072), np.uint8)}, "no 'labels' entry"),
    ("data-wrong-width", {b"data": np.zeros((1, 100), np.uint8), b"labels": [0]}, "(N, 3072)"),
    ("data-float", {b"data": np.zeros((1, 3072), np.float64), b"labels": [0]}, "uint8 array"),
    ("data-string", {b"data": "x" * 10, b"labels": [0]}, "uint8 array"),
    ("data-huge-list", {b"data": [0] * 10, b"labels": [0]}, "uint8 array"),
    ("labels-strings", {b"data": np.zeros((1, 3072), np.uint8), b"labels": ["cat"]}, "list of integers"),
    ("labels-too-few", {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "expected (2,)"),
    ("labels-out-of-range", {b"data": np.zeros((1, 3072), np.uint8), b"labels": [10]}, "label 10 outside 0..9"),
    ("labels-negative", {b"data": np.zeros((1, 3072), np.uint8), b"labels": [-1]}, "label -1 outside 0..9"),
    ("not-a-dict", [1, 2, 3], "expected a dict"),
]


@pytest.mark.parametrize("case,obj,fragment", CIFAR_CASES, ids=[c[0] for c in CIFAR_CASES])
def test_cifar_malformed_batch(tmp_path, case, obj, fragment):
    folder = _cifar(tmp_path)
    _overwrite(folder / "test_batch", obj)
    with pytest.raises(ValueError) as info:
        load_cifar(tmp_path, "test")
    assert fragment in str(info.value) and "test_batch" in str(info.value)


def test_cifar_truncated_and_garbage(tmp_path):
    folder = _cifar(tmp_path)
    blob = (folder / "test_batch").read_bytes()
    for bad in (blob[: len(blob) // 2], b"\x80\x04garbage", b""):
        (folder / "test_batch").write_bytes(bad)
        with pytest.raises(ValueError, match="test_batch"):
            load_cifar(tmp_path, "test")


def test_cifar_unsafe_pickle_is_a_value_error_and_runs_nothing(tmp_path):
    import os

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil"
    path.write_bytes(pickle.dumps({b"data": Payload()}))
    with pytest.raises(ValueError, match="refusing to load global") as info:
        safe_load_pickle(path)
    assert isinstance(info.value, UnsafePickleError) and issubclass(UnsafePickleError, ValueError)
    assert not marker.exists()


def test_cifar_good_fixture_loads(tmp_path):
    _cifar(tmp_path, labels=(0, 9, 3, 1, 2))
    images, labels, names = load_cifar(tmp_path, "train")
    assert images.shape == (5, 3, 32, 32) and sorted(labels.tolist()) == [0, 1, 2, 3, 9] and len(names) == 10


# ---- options that leave nothing to learn -----------------------------------------------------------------------
def test_pool_larger_than_sensor(tmp_path):
    with pytest.raises(ValueError, match="pool 1000 is larger than the sensor 34x34"):
        load_dataset("event-digits", "train", dt="4ms", pool=1000, limit=4)


@pytest.mark.parametrize("dt", ["1000s", "0.3s", 5])
def test_dt_not_shorter_than_window(dt):
    with pytest.raises(ValueError, match="not shorter than the recording window"):
        load_dataset("event-digits", "train", dt=dt, limit=4)


@pytest.mark.parametrize("dt", ["0ms", "-4ms", "nan", "inf", "4 parsecs", "", "ms"])
def test_dt_unreadable_or_not_positive(dt):
    with pytest.raises(ValueError, match="dt"):
        load_dataset("event-digits", "train", dt=dt, limit=4)


def _wav(path, n=8000, rate=16000):
    import numpy as np
    from scipy.io import wavfile
    path.parent.mkdir(parents=True, exist_ok=True)
    wavfile.write(path, rate, (np.sin(np.arange(n) / 10) * 3000).astype(np.int16))
    return path


@pytest.mark.parametrize("keep", [12, 44, 100, 10_000])
def test_truncated_wav_is_refused_naming_the_file(tmp_path, keep):
    from adaspike.data.audio import read_wav, wav_sample_rate
    path = _wav(tmp_path / "take.wav")
    path.write_bytes(path.read_bytes()[:keep])
    for reader in (read_wav, wav_sample_rate):
        with pytest.raises(ValueError, match="take.wav"):
            reader(path)


def test_wav_whose_data_is_not_whole_frames_is_refused(tmp_path):
    import struct
    from adaspike.data.audio import read_wav
    path = _wav(tmp_path / "odd.wav")
    raw = bytearray(path.read_bytes())
    at = raw.index(b"data") + 4
    raw[at:at + 4] = struct.pack("<I", struct.unpack("<I", raw[at:at + 4])[0] - 1)  # one byte short of a frame
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="whole number"):
        read_wav(path)


def test_a_truncated_wav_in_a_folder_stops_the_dataset_with_its_name(tmp_path):
    from adaspike.data import load_dataset
    for label in ("yes", "no"):
        for take in range(3):
            _wav(tmp_path / label / f"{label}_{take}.wav", n=4000)
    bad = tmp_path / "no" / "no_1.wav"
    bad.write_bytes(bad.read_bytes()[:100])
    with pytest.raises(ValueError, match="no_1.wav"):
        load_dataset("wav-folder", "train", root=str(tmp_path))
