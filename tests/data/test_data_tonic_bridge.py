"""tonic bridge: tonic-layout event arrays, datasets and transforms become adaspike event datasets.

The fixtures use tonic's exact layouts (tonic.io.events_struct and the SHD/SSC dtype ``t, x, p`` with
sensor_size (700, 1, 1)); the tests that run tonic's own transforms skip when tonic is absent.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from adaspike.data import bin_events
from adaspike.data.tonic_bridge import TonicEvents, from_tonic_events, sensor_shape_from_tonic, tonic_event_dataset

# tonic 1.7: tonic.io.events_struct, and the dtype of its SHD-like audio datasets
TONIC_CAMERA = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", bool)])
TONIC_AUDIO = np.dtype([("t", int), ("x", int), ("p", int)])


def _camera(n=200, seed=0, width=34, height=34):
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, dtype=TONIC_CAMERA)
    ev["x"], ev["y"] = rng.integers(0, width, n), rng.integers(0, height, n)
    ev["t"] = np.sort(rng.integers(0, 300_000, n))
    ev["p"] = rng.integers(0, 2, n).astype(bool)
    return ev


def _audio(n=300, seed=0):
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, dtype=TONIC_AUDIO)
    ev["t"], ev["x"], ev["p"] = np.sort(rng.integers(0, 1_000_000, n)), rng.integers(0, 700, n), 1
    return ev


class FakeTonicDataset:
    """Shaped like a tonic dataset: ``(events, target)`` items, ``sensor_size``, ``targets``, ``classes``."""

    sensor_size = (34, 34, 2)
    classes = [str(k) for k in range(10)]

    def __init__(self, n=6, transform=None):
        self.samples = [_camera(seed=i) for i in range(n)]
        self.targets = [i % 10 for i in range(n)]
        self.transform = transform

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        ev = self.samples[i]
        return (self.transform(ev) if self.transform else ev), self.targets[i]


def test_sensor_shape():
    assert sensor_shape_from_tonic((34, 34, 2)) == (34, 34)
    assert sensor_shape_from_tonic((128, 64, 2)) == (64, 128)  # tonic (W, H, P) -> adaspike (H, W)
    assert sensor_shape_from_tonic((700, 1, 1)) == (700,)
    with pytest.raises(ValueError):
        sensor_shape_from_tonic((3, 4, 5))


def test_camera_events_bin_like_a_dense_count():
    ev = _camera()
    ours = from_tonic_events(ev, (34, 34, 2))
    counts = bin_events(ours, 10_000, t_max_us=300_000, sensor_shape=(34, 34))
    expected = np.zeros_like(counts)
    np.add.at(expected, (ev["t"] // 10_000, ev["p"].astype(int), ev["y"], ev["x"]), 1)
    np.testing.assert_array_equal(counts, expected)


def test_audio_events_use_x_as_the_channel():
    ev = _audio()
    ours = from_tonic_events(ev, (700, 1, 1))
    assert ours.dtype.names == ("t", "unit")
    np.testing.assert_array_equal(ours["unit"], ev["x"])
    counts = bin_events(ours, 50_000, t_max_us=1_000_000, sensor_shape=(700,))
    assert counts.sum() == len(ev) and counts.shape == (20, 700)


def test_polarity_and_float_times():
    ev = np.zeros(3, dtype=[("x", int), ("y", int), ("t", float), ("p", int)])
    ev["t"], ev["p"] = [0.0, 5.0, 9.0], [-1, 1, 0]
    ours = from_tonic_events(ev)
    assert ours["p"].tolist() == [0, 1, 0] and ours["t"].tolist() == [0, 5, 9]
    ev["t"] = [0.0, 0.5e-3, 1e-3]  # seconds, not µs
    with pytest.raises(ValueError, match="microseconds"):
        from_tonic_events(ev)


def test_bad_layouts_raise():
    with pytest.raises(ValueError, match="structured"):
        from_tonic_events(np.zeros((4, 2, 34, 34)))  # a ToFrame output
    with pytest.raises(ValueError, match="outside"):
        from_tonic_events(_camera(width=40), (34, 34, 2))
    with pytest.raises(ValueError, match="layout"):
        from_tonic_events(np.zeros(2, dtype=[("t", int), ("q", int)]))


def test_dataset_serves_time_major_batches():
    data = tonic_event_dataset(FakeTonicDataset(), dt=10e-3, t_max=0.3)
    assert data.input_shape == (2, 34, 34) and data.num_classes == 10 and len(data) == 6
    x, y = data[1]
    assert x.shape == (30, 2, 34, 34) and y == 1 and x.dtype == torch.float32
    assert int(x.sum()) == len(_camera(seed=1))
    data.set_dt(20e-3)  # re-binned without reloading, nesting exactly
    assert torch.equal(data[1][0], x.reshape(15, 2, 2, 34, 34).sum(1))


def test_default_window_and_labels_without_targets():
    class NoTargets(FakeTonicDataset):
        def __init__(self):
            super().__init__(n=3)
            del self.targets

        def __getitem__(self, i):
            return self.samples[i], 7

    source = TonicEvents(NoTargets())
    assert source.labels.tolist() == [7, 7, 7]
    data = tonic_event_dataset(NoTargets(), dt=1e-3, class_names=None)
    last = max(int(s["t"].max()) for s in NoTargets().samples)
    assert data.t_max == pytest.approx((last + 1) * 1e-6)


def test_real_tonic_transforms():
    tonic = pytest.importorskip("tonic")
    raw = FakeTonicDataset(n=2)
    jitter_free = tonic.transforms.Downsample(spatial_factor=0.5)  # 34 -> 17 pixels
    data = tonic_event_dataset(raw, dt=10e-3, t_max=0.3, transform=jitter_free, sensor_size=(17, 17, 2))
    x, _ = data[0]
    assert x.shape == (30, 2, 17, 17) and int(x.sum()) == len(raw.samples[0])
    # a tonic dataset's own transform= argument works the same (events arrive already transformed)
    denoised = tonic_event_dataset(FakeTonicDataset(n=2, transform=tonic.transforms.Denoise(filter_time=1)),
                                   dt=10e-3, t_max=0.3)
    assert int(denoised[0][0].sum()) <= len(raw.samples[0])
    # tonic's own structured-array constructor yields the layout we read
    ev = tonic.io.make_structured_array(np.array([1, 2]), np.array([3, 4]), np.array([10, 20]), np.array([1, 0]),
                                        dtype=tonic.io.events_struct)
    assert from_tonic_events(ev)["x"].tolist() == [1, 2]
