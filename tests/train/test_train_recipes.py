"""Training recipe pieces: mixup before encoding, augmentation, label smoothing, cosine warm-up."""
import pytest
import torch

from adaspike.models import build_model
from adaspike.train.recipes import ImageAugment, Mixup, compose, cosine_warmup_factor, smooth_targets


def test_mixup_mixes_images_and_targets_with_one_lambda():
    x = torch.stack([torch.zeros(1, 4, 4), torch.ones(1, 4, 4)])
    y = torch.tensor([0, 1])
    mixed, soft = Mixup(2, seed=0)(x, y)
    assert torch.allclose(soft.sum(-1), torch.ones(2))
    assert torch.allclose(soft[:, 1], mixed.mean(dim=(1, 2, 3)), atol=1e-6)
    assert torch.allclose(mixed.std(dim=(1, 2, 3)), torch.zeros(2), atol=1e-6)  # one λ per image pair


def test_mixup_runs_before_the_encoder_and_stops_at_stop_epoch():
    net = build_model("lenet", T=3, encoding="hybrid", width=4, input_size=(16, 16))
    mix = Mixup(10, stop_epoch=1, seed=1)
    x, y = mix(torch.rand(4, 1, 16, 16), torch.tensor([0, 1, 2, 3]))
    loss = torch.nn.functional.cross_entropy(net(x), y, label_smoothing=0.1)
    assert torch.isfinite(loss)
    mix.set_epoch(1)
    x2 = torch.rand(4, 1, 16, 16)
    out, targets = mix(x2, torch.tensor([0, 1, 2, 3]))
    assert torch.equal(out, x2) and torch.equal(targets.argmax(-1), torch.tensor([0, 1, 2, 3]))


def test_smooth_targets():
    t = smooth_targets(torch.tensor([2]), 4, 0.2)
    assert torch.allclose(t, torch.tensor([[0.05, 0.05, 0.85, 0.05]]))
    with pytest.raises(ValueError):
        smooth_targets(torch.tensor([0]), 4, 1.5)


def test_augment_keeps_shape_and_flip_is_exact():
    x = torch.arange(16.0).reshape(1, 1, 4, 4).repeat(64, 1, 1, 1)
    out, _ = ImageAugment(hflip=True, seed=0)(x, torch.zeros(64))
    flipped = (out == x.flip(-1)).all(dim=(1, 2, 3))
    kept = (out == x).all(dim=(1, 2, 3))
    assert bool((flipped | kept).all()) and 10 < int(flipped.sum()) < 54
    out, _ = compose(ImageAugment(rotation=(0, 25), crop_padding=2, seed=0))(x, torch.zeros(64))
    assert out.shape == x.shape


def test_cosine_warmup_factor():
    assert cosine_warmup_factor(0, 100, 10) == pytest.approx(0.1)
    assert cosine_warmup_factor(9, 100, 10) == pytest.approx(1.0)
    assert cosine_warmup_factor(10, 100, 10) == pytest.approx(1.0)
    assert cosine_warmup_factor(100, 100, 10, min_ratio=0.01) == pytest.approx(0.01)
    assert cosine_warmup_factor(55, 100, 10) == pytest.approx(0.5)
