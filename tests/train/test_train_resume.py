"""Trainer: deterministic on CPU, exact resume, safe checkpoints."""
import pickle

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from adaspike.models import build_model
from adaspike.train import CheckpointError, Trainer, load_model, read_checkpoint, save_checkpoint


def _time_major(batch):
    xs, ys = zip(*batch)
    return torch.stack(xs, 1), torch.stack(ys)


def _setup(seed=0):
    g = torch.Generator().manual_seed(123)
    x = (torch.rand(64, 12, 6, generator=g) < 0.3).float()
    y = (x[:, :, :3].sum((1, 2)) > x[:, :, 3:].sum((1, 2))).long()
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, collate_fn=_time_major,
                        generator=torch.Generator().manual_seed(0))
    torch.manual_seed(seed)
    model = build_model("snn", input_shape=[6], classes=2, hidden=[16], neuron="adlif", dt=4e-3, dropout=0.1)
    return model, loader


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.slow
def test_resume_equals_uninterrupted(tmp_path):
    model, loader = _setup()
    Trainer(model, epochs=3, lr=1e-2, scheduler="cosine", progress=False, out_dir=tmp_path / "a").fit(loader)
    full = _weights(model)

    model, loader = _setup()
    trainer = Trainer(model, epochs=3, lr=1e-2, scheduler="cosine", progress=False, out_dir=tmp_path / "b")
    original = trainer._train_epoch

    def crash_in_second_epoch(loader, epoch):
        if epoch == 1:
            raise KeyboardInterrupt("simulated interruption")
        return original(loader, epoch)

    trainer._train_epoch = crash_in_second_epoch
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(loader)
    # a fresh process rebuilds everything and resumes from the epoch-1 checkpoint
    model, loader = _setup(seed=99)
    trainer = Trainer(model, epochs=3, lr=1e-2, scheduler="cosine", progress=False, out_dir=tmp_path / "b")
    history = trainer.fit(loader)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    resumed = _weights(model)
    for key in full:
        assert torch.equal(full[key], resumed[key]), key


def test_training_is_deterministic_and_learns(tmp_path):
    results = []
    for _ in range(2):
        model, loader = _setup()
        history = Trainer(model, epochs=4, lr=1e-2, progress=False).fit(loader)
        results.append((history[-1]["train_loss"], _weights(model)))
    assert results[0][0] == results[1][0]
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_checkpoint_round_trip_and_metadata(tmp_path):
    model, _ = _setup()
    path = save_checkpoint(tmp_path / "m.safetensors", model, {"note": "hello"})
    state, extra, meta = read_checkpoint(path)
    assert meta["note"] == "hello" and meta["model"]["name"] == "snn"
    rebuilt = load_model(path)
    for k, v in model.state_dict().items():
        assert torch.equal(rebuilt.state_dict()[k], v)


class Evil:
    def __reduce__(self):
        import os
        return (os.system, ("echo pwned > /tmp/adaspike_pwned",))


def test_untrusted_pickle_checkpoint_is_refused_without_executing(tmp_path):
    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps({"model.w": Evil()}))
    with pytest.raises(CheckpointError, match="safetensors"):
        read_checkpoint(path)
    import os
    assert not os.path.exists("/tmp/adaspike_pwned")


def test_truncated_checkpoint_is_refused(tmp_path):
    model, _ = _setup()
    path = save_checkpoint(tmp_path / "m.safetensors", model)
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(CheckpointError):
        read_checkpoint(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint(tmp_path / "missing.safetensors")


def test_resume_refuses_a_run_with_other_settings(tmp_path):
    model, loader = _setup()
    Trainer(model, epochs=1, progress=False, out_dir=tmp_path, metadata={"data": {"dt": 0.02}}).fit(loader)
    model, loader = _setup()
    with pytest.raises(CheckpointError, match="different data"):
        Trainer(model, epochs=2, progress=False, out_dir=tmp_path, metadata={"data": {"dt": 0.04}}).fit(loader)
    other = build_model("snn", input_shape=[6], classes=2, hidden=[8], neuron="adlif", dt=4e-3)
    with pytest.raises(CheckpointError, match="different model"):
        Trainer(other, epochs=2, progress=False, out_dir=tmp_path, metadata={"data": {"dt": 0.02}}).fit(loader)
