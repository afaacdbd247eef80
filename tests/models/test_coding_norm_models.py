"""BatchNorm over time (spec §4, §9.7), the hybrid stem (§3.3) and shapes of every model × encoder."""
import pytest
import torch
from torch import nn

from adaspike.encoding import ENCODINGS
from adaspike.layers.norm import TemporalBatchNorm
from adaspike.models import build_model
from adaspike.models.blocks import HybridStem, conv_bn, SpikingOptions


def _trained(bn, steps=20, T=3):
    torch.manual_seed(0)
    bn.train()
    for _ in range(steps):
        x = torch.randn(T, 8, 4, 3, 3) * torch.tensor([1.0, 2.0, 3.0]).reshape(T, 1, 1, 1, 1) + torch.arange(T).reshape(T, 1, 1, 1, 1)
        bn(x)
    return bn.eval()


@pytest.mark.parametrize("mode", ["shared", "per_step", "flat"])
def test_eval_output_does_not_depend_on_batch_composition(mode):
    bn = _trained(TemporalBatchNorm(4, 3, mode=mode))
    x = torch.randn(3, 6, 4, 3, 3)
    alone = bn(x[:, :2])
    together = bn(torch.cat([x[:, :2], 10 * x[:, 2:]], dim=1))[:, :2]
    assert torch.allclose(alone, together, atol=1e-6)


def test_running_statistic_sets_per_mode():
    assert TemporalBatchNorm(4, 3, mode="per_step").running_mean.shape == (3, 4)
    assert TemporalBatchNorm(4, 3, mode="shared").running_mean.shape == (4,)
    assert TemporalBatchNorm(4, 3, mode="flat").running_var.shape == (4,)


def test_per_step_statistics_track_each_step():
    bn = _trained(TemporalBatchNorm(4, 3, mode="per_step"), steps=200)
    assert torch.allclose(bn.running_mean[:, 0], torch.tensor([0.0, 1.0, 2.0]), atol=0.15)
    assert torch.allclose(bn.running_var[:, 0], torch.tensor([1.0, 4.0, 9.0]), rtol=0.15)


def test_shared_statistics_pool_all_steps():
    bn = _trained(TemporalBatchNorm(4, 3, mode="shared"), steps=200)
    # mixture of N(0,1), N(1,4), N(2,9): mean 1, variance 14/3 + 2/3
    assert abs(float(bn.running_mean[0]) - 1.0) < 0.15
    assert abs(float(bn.running_var[0]) - 16 / 3) < 0.6


def test_shared_mode_normalises_each_step_in_training():
    x = torch.randn(3, 16, 2, 4, 4) + torch.arange(3.0).reshape(3, 1, 1, 1, 1)
    y = TemporalBatchNorm(2, 3, mode="shared")(x)
    assert torch.allclose(y.mean(dim=(1, 3, 4)), torch.zeros(3, 2), atol=1e-5)


def test_flat_mode_equals_batchnorm_on_folded_time():
    torch.manual_seed(1)
    x = torch.randn(3, 5, 4, 6, 6) * 2 + 1
    ref, bn = nn.BatchNorm2d(4), TemporalBatchNorm(4, mode="flat")
    assert torch.allclose(bn(x).flatten(0, 1), ref(x.flatten(0, 1)), atol=1e-5)
    assert torch.allclose(bn.running_var, ref.running_var, atol=1e-5)
    ref.eval(), bn.eval()
    assert torch.allclose(bn(x).flatten(0, 1), ref(x.flatten(0, 1)), atol=1e-5)


def test_train_bn_at_eval_reproduces_batch_dependence():
    bn = _trained(TemporalBatchNorm(4, 3, mode="shared", train_bn_at_eval=True))
    x = torch.randn(3, 6, 4, 3, 3)
    assert not torch.allclose(bn(x[:, :2]), bn(torch.cat([x[:, :2], 10 * x[:, 2:]], 1))[:, :2])


def test_hybrid_stem_analog_gets_gradient_only_from_step0():
    opts = SpikingOptions(T=4)
    stem = HybridStem(conv_bn(opts, 1, 3, T=1), conv_bn(opts, 1, 3, T=3))
    frames = torch.rand(4, 2, 1, 6, 6)
    out = stem(frames)
    out[1:].sum().backward()
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0 for p in stem.analog.parameters())
    stem.zero_grad()
    stem(frames)[0].pow(2).sum().backward()
    assert float(stem.analog.conv.module.weight.grad.abs().sum()) > 0
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0 for p in stem.spike.parameters())


MODELS = {"spiking-resnet": {"width": 4}, "sew-resnet": {"width": 4, "depth": 2},
          "spikformer": {"dim": 8, "heads": 2}, "lenet": {"width": 4, "input_size": (16, 16)}}


# every model × encoder; adaptive alternates so both dynamics meet every encoder across the models
CASES = [(m, e, ("off", "on")[(i + j) % 2]) for i, m in enumerate(sorted(MODELS)) for j, e in enumerate(ENCODINGS)]


@pytest.mark.parametrize("model,encoding,adaptive", CASES)
def test_every_model_runs_with_every_encoder(model, encoding, adaptive):
    net = build_model(model, T=3, encoding=encoding, adaptive=adaptive, num_classes=5, **MODELS[model])
    assert net.config["name"] == model
    out = net(torch.rand(2, 1, 16, 16))
    assert out.shape == (2, 5) and bool(torch.isfinite(out).all())


@pytest.mark.parametrize("model", sorted(MODELS))
def test_models_train_and_accept_time_major_frames(model):
    net = build_model(model, T=2, encoding="hybrid", adaptive="on", granularity="channel", **MODELS[model])
    frames = net.encoder(torch.rand(2, 1, 16, 16))
    loss = nn.functional.cross_entropy(net(frames), torch.tensor([1, 2]))
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())


def test_wrong_input_layout_raises():
    net = build_model("lenet", T=2, width=4, input_size=(16, 16))
    with pytest.raises(ValueError, match="T=2"):
        net(torch.rand(3, 2, 1, 16, 16))
