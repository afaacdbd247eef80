"""Training protocol: validation carved from the training split, best-epoch selection, early stopping, resume
refusing changed settings, firing-regime initialisation, augmentation and what a run writes."""
import csv

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from adaspike.data import split_dataset, validation_split
from adaspike.models import build_model
from adaspike.train import CheckpointError, Trainer
from adaspike.train.firing_init import calibrate_firing
from adaspike.train.logbook import format_epoch
from adaspike.train.recipes import EventAugment


def _time_major(batch):
    xs, ys = zip(*batch)
    return torch.stack(xs, 1), torch.stack(ys)


def _data(n=64, seed=123):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, 12, 6, generator=g) < 0.3).float()
    y = (x[:, :, :3].sum((1, 2)) > x[:, :, 3:].sum((1, 2))).long()
    return DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, collate_fn=_time_major,
                      generator=torch.Generator().manual_seed(0))


def _model(seed=0):
    torch.manual_seed(seed)
    return build_model("snn", input_shape=[6], classes=2, hidden=[16], neuron="lif", dt=4e-3)


def test_validation_split_is_deterministic_class_balanced_and_disjoint():
    labels = np.repeat(np.arange(4), [40, 20, 10, 30])
    train, val = validation_split(labels, 0.2, seed=0)
    again, _ = validation_split(labels, 0.2, seed=0)
    assert np.array_equal(train, again) and not set(train) & set(val)
    assert sorted(set(train) | set(val)) == list(range(len(labels)))
    assert np.bincount(labels[val]).tolist() == [8, 4, 2, 6]
    assert not np.array_equal(validation_split(labels, 0.2, seed=1)[1], val)


def test_validation_split_by_group_holds_out_whole_speakers():
    labels = np.tile(np.arange(10), 20)
    groups = np.repeat([f"spk{i}" for i in range(20)], 10)
    train, val = validation_split(labels, 0.15, seed=0, groups=groups)
    held = set(groups[val])
    assert held and not held & set(groups[train])
    assert len(held) == 3 and np.bincount(labels[val]).tolist() == [3] * 10


def test_split_dataset_keeps_attributes_and_needs_labels():
    data = TensorDataset(torch.zeros(20, 3), torch.zeros(20))
    with pytest.raises(ValueError, match="labels"):
        split_dataset(data)
    data.labels = np.arange(20) % 2
    data.num_classes = 2
    train, val = split_dataset(data, 0.25)
    assert len(train) + len(val) == 20 and train.num_classes == 2
    assert np.array_equal(val.labels, data.labels[val.indices])


def test_best_validation_epoch_is_restored_and_recorded(tmp_path):
    model, loader = _model(), _data()
    val = _data(32, seed=7)
    trainer = Trainer(model, epochs=5, lr=1e-2, progress=False, out_dir=tmp_path)
    history = trainer.fit(loader, val)
    best = max(history, key=lambda h: (h["val_accuracy"], -h["val_loss"]))
    assert trainer.selected["epoch"] == best["epoch"]
    assert trainer.evaluate(val)["accuracy"] == pytest.approx(best["val_accuracy"])
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5] and "rate.hidden.0.neuron" in rows[0]
    assert (tmp_path / "learning_curve.png").stat().st_size > 1000


@pytest.mark.slow
def test_early_stopping_and_its_resume(tmp_path):
    model, loader = _model(), _data()
    trainer = Trainer(model, epochs=30, lr=1e-2, progress=False, out_dir=tmp_path, patience=2)
    # a validation set the model cannot get better on: every epoch after the first is "no better"
    val = DataLoader(TensorDataset(torch.zeros(8, 12, 6), torch.zeros(8, dtype=torch.long)), batch_size=8,
                     collate_fn=_time_major)
    history = trainer.fit(loader, val)
    assert trainer.stopped_early and len(history) < 30
    resumed = Trainer(_model(5), epochs=30, lr=1e-2, progress=False, out_dir=tmp_path, patience=2)
    assert len(resumed.fit(loader, val)) == len(history)  # a stopped run stays stopped
    assert resumed.selected == trainer.selected


@pytest.mark.parametrize("change", [{"lr": 5e-3}, {"seed": 3}, {"weight_decay": 0.1}, {"epochs": 4}])
def test_resume_refuses_any_changed_training_setting(tmp_path, change):
    model, loader = _model(), _data()
    base = dict(epochs=3, lr=1e-2, seed=0, progress=False, out_dir=tmp_path)
    trainer = Trainer(model, **base)
    original = trainer._train_epoch

    def stop(loader, epoch):
        if epoch == 1:
            raise KeyboardInterrupt
        return original(loader, epoch)

    trainer._train_epoch = stop
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(loader)
    with pytest.raises(CheckpointError, match="different training settings") as err:
        Trainer(_model(), **{**base, **change}).fit(loader)
    assert next(iter(change)) in str(err.value)


def test_firing_initialisation_wakes_a_silent_layer():
    model = _model()
    with torch.no_grad():
        model.hidden[0].synapse.module.weight.mul_(0.01)  # silent
    x = (torch.rand(30, 8, 6, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    report = calibrate_firing(model, x, band=(10.0, 40.0))
    assert report["before"]["hidden.0"] < 1.0
    assert 10.0 <= report["after"]["hidden.0"] <= 40.0 and report["scales"]["hidden.0"] > 1
    with pytest.raises(ValueError, match="band"):
        calibrate_firing(model, x, band=(5.0, 1.0))


def test_event_augment_masks_and_shifts_and_is_seeded_by_the_global_rng():
    x = torch.ones(40, 3, 20)
    torch.manual_seed(0)
    a, _ = EventAugment(max_time_fraction=0.2, max_feature_fraction=0.2)(x, None)
    torch.manual_seed(0)
    b, _ = EventAugment(max_time_fraction=0.2, max_feature_fraction=0.2)(x, None)
    assert torch.equal(a, b) and float(a.sum()) < float(x.sum())
    frames = torch.zeros(2, 4, 2, 5, 5)
    frames[..., 2, 2] = 1
    shifted, _ = EventAugment(time_masks=0, feature_masks=0, max_shift=1)(frames, None)
    assert shifted.sum() == frames.sum()  # a centre pixel moved by <= 1 stays inside
    with pytest.raises(ValueError, match="drop"):
        EventAugment(drop=1.5)


def test_epoch_line_is_one_readable_line():
    line = format_epoch({"epoch": 3, "train_loss": 1.4, "train_accuracy": 0.7, "val_loss": 1.3,
                         "val_accuracy": 0.85, "rate.h": 0.05, "lr": 1e-3, "epoch_time_s": 2.0}, 40,
                        {"epoch": 3, "val_accuracy": 0.85})
    assert "\n" not in line and line.startswith("epoch 3/40") and "best 85.0% @3" in line
