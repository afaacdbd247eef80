"""The event-camera simulator: determinism, polarity, timing, noise."""

import numpy as np
import pytest

from adaspike.data.event_camera import CameraConfig, eye_offsets, image_to_events, images_to_events
from adaspike.data.events import CAMERA_DTYPE
from adaspike.data.static import load_digits_images


@pytest.fixture(scope="module")
def digits():
    images, labels = load_digits_images()
    return images[:6], labels[:6]


def test_deterministic_for_a_seed_and_independent_of_chunking(digits):
    images, _ = digits
    a = images_to_events(images, seed=3)
    b = images_to_events(images, seed=3, chunk=2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_different_seeds_differ(digits):
    images, _ = digits
    a = images_to_events(images[:2], seed=0)
    b = images_to_events(images[:2], seed=1)
    assert not np.array_equal(a[0], b[0])


def test_subset_with_original_indices_reproduces_full_set(digits):
    images, _ = digits
    full = images_to_events(images, seed=0)
    part = images_to_events(images[[4, 1]], seed=0, indices=[4, 1])
    assert np.array_equal(full[4], part[0]) and np.array_equal(full[1], part[1])


def test_events_are_sorted_in_window_with_both_polarities(digits):
    images, _ = digits
    cfg = CameraConfig()
    for ev in images_to_events(images, seed=0):
        assert ev.dtype == CAMERA_DTYPE
        assert len(ev) > 500
        assert np.all(np.diff(ev["t"]) >= 0)
        assert ev["t"].min() >= 0 and ev["t"].max() < cfg.duration_us == 300_000
        assert set(np.unique(ev["p"])) == {0, 1}
        assert ev["x"].min() >= 0 and ev["x"].max() < 34 and ev["y"].min() >= 0 and ev["y"].max() < 34


def test_blank_image_gives_only_background_noise():
    noisy = CameraConfig(noise_rate_hz=10.0)
    ev = image_to_events(np.zeros((8, 8), np.uint8), seed=0, config=noisy)
    expected = 10.0 * 34 * 34 * 0.3
    assert abs(len(ev) - expected) < 5 * np.sqrt(expected)
    assert len(image_to_events(np.zeros((8, 8), np.uint8), config=CameraConfig(noise_rate_hz=0.0))) == 0


def test_refractory_period_is_respected():
    cfg = CameraConfig(noise_rate_hz=0.0, refractory_us=2_000, threshold=0.05, threshold_sigma=0.0)
    ev = image_to_events(np.eye(8, dtype=np.uint8) * 255, seed=0, config=cfg)
    pixel = ev["y"].astype(np.int64) * 34 + ev["x"]
    for k in np.unique(pixel)[:50]:
        t = ev["t"][pixel == k]
        assert np.all(np.diff(t) >= cfg.refractory_us - 1)  # -1: timestamps are floored to µs


def test_saccades_form_a_closed_triangle():
    cfg = CameraConfig()
    path = eye_offsets(cfg, np.array([0, 100_000, 200_000, 300_000]))
    np.testing.assert_allclose(path[0], path[3])
    assert len({tuple(np.round(p, 6)) for p in path[:3]}) == 3


def test_rejects_float_images_outside_unit_range():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        images_to_events(np.full((1, 8, 8), 16.0))


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="threshold=0"):
        CameraConfig(threshold=0)
    with pytest.raises(ValueError, match="multiple of step_us"):
        CameraConfig(step_us=7_000)
