"""The convolutional SNN for event cameras: shapes, errors, checkpoints, retime, firing calibration, user factories."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from adaspike.layers import LeakyIntegrator, NeuronLayer, SpikingLayer
from adaspike.models import build_model, registered_models
from adaspike.models.conv_snn import ConvSNN
from adaspike.retime import retime
from adaspike.train import load_model, save_checkpoint
from adaspike.train.firing_init import calibrate_firing, spiking_layers


def small(**kw) -> ConvSNN:
    torch.manual_seed(0)
    return build_model("conv-snn", **{"input_shape": [2, 8, 8], "classes": 3, "channels": [4, 6], "dt": 4e-3, **kw})


def events(T: int = 12, B: int = 5, shape=(2, 8, 8), density: float = 0.2, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.poisson(torch.full((T, B, *shape), density), generator=g)


def test_registered_and_shapes():
    assert "conv-snn" in registered_models()
    model = small(hidden=[7])
    out = model(events())
    assert out.shape == (5, 3) and torch.isfinite(out).all()
    assert model.config == {"name": "conv-snn", "kwargs": {"input_shape": [2, 8, 8], "classes": 3,
                                                          "channels": [4, 6], "dt": 4e-3, "hidden": [7]}}
    assert model.input_kind == "counts"
    # every spiking block is a synapse + neuron layer, with per-channel continuous-time neurons at the model's dt
    blocks = [m for m in model.modules() if isinstance(m, SpikingLayer)]
    assert len(blocks) == 3 and all(b.neuron.dt == 4e-3 for b in blocks)
    assert blocks[0].neuron.shape == (4, 1, 1)


def test_gradients_reach_every_parameter():
    model = small(hidden=[7])
    calibrate_firing(model, events(density=0.5))
    nn.functional.cross_entropy(model(events(density=0.5)), torch.tensor([0, 1, 2, 0, 1])).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.any())]
    assert missing == []


@pytest.mark.parametrize("kwargs, match", [
    (dict(input_shape=[578]), "per-step input shape"),
    (dict(channels=[]), "at least one conv block"),
    (dict(channels=[4, 0]), "positive integers"),
    (dict(kernel=4), "odd"),
    (dict(pooling="median"), "pooling"),
    (dict(channels=[2, 2, 2, 2]), "below one pixel"),
    (dict(dropout=1.0), "dropout"),
    (dict(classes=0), "classes"),
    (dict(neuron="bogus"), "unknown neuron"),
])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        small(**kwargs)


def test_wrong_input_shape_is_refused():
    model = small()
    with pytest.raises(ValueError, match=r"expects frames \[T, B, 2, 8, 8\]"):
        model(events(shape=(2, 4, 4)))
    with pytest.raises(ValueError, match="T, B"):
        model(torch.zeros(2, 8, 8))


def test_checkpoint_round_trip(tmp_path):
    model = small(hidden=[5], neuron="adlif").eval()
    x = events()
    path = save_checkpoint(tmp_path / "m.safetensors", model)
    again = load_model(path).eval()
    assert torch.equal(model(x), again(x))


@settings(max_examples=15, deadline=None)
@given(rho=st.sampled_from([0.25, 0.5, 2.0, 4.0]), shift=st.floats(-2, 2), gain=st.floats(0.2, 3.0),
       mean=st.floats(-1, 1), var=st.floats(0.1, 4.0))
def test_retime_scales_count_drive_exactly_through_batchnorm(rho, shift, gain, mean, var):
    """Folded BatchNorm + the 1/ρ count scale: the retimed first synapse on x is the source's on x/ρ."""
    model = small().eval()
    bn = model.features[0].synapse.module[1]
    with torch.no_grad():
        bn.weight.fill_(gain), bn.bias.fill_(shift), bn.running_mean.fill_(mean), bn.running_var.fill_(var)
    x = events(T=4)
    new = retime(model, ratio=rho, method="zoh")
    assert isinstance(new.features[0].synapse.module[1], nn.Identity)  # folded into the conv
    expected = model.features[0].synapse(x / rho)
    assert torch.allclose(new.features[0].synapse(x), expected, atol=1e-5, rtol=1e-5)
    assert all(math.isclose(m.dt, 4e-3 * rho) for m in new.modules() if isinstance(m, (NeuronLayer, LeakyIntegrator)))


@pytest.mark.slow
def test_retime_keeps_a_calibrated_model_close():
    """Zero-shot retime of rebinned data: the logits at ρ = 2 follow the source's (same inputs, coarser bins)."""
    model = small()
    fine = events(T=32, B=16, density=0.3)
    calibrate_firing(model, fine, band=(40.0, 80.0))
    with torch.no_grad():
        for _ in range(40):  # running statistics of the calibrated model (BatchNorm momentum 0.1)
            model(fine)
    model.eval()
    coarse = fine.reshape(16, 2, *fine.shape[1:]).sum(1)  # exact nesting: two fine bins make one coarse bin
    retimed = retime(model, ratio=2.0, method="zoh")
    source, moved = model(fine), retimed(coarse)
    assert source.std() > 0
    assert torch.corrcoef(torch.stack([source.flatten(), moved.flatten()]))[0, 1] > 0.9
    assert (source.argmax(1) == moved.argmax(1)).float().mean() >= 0.6


def test_calibration_scales_batchnorm_gain_and_restores_statistics():
    model = small(hidden=[7])
    x = events(T=32, density=0.3)
    names = [name for name, _ in spiking_layers(model)]
    assert names == ["features.0", "features.2", "hidden.0"]
    stats = {k: v.clone() for k, v in model.state_dict().items() if "running" in k or "num_batches" in k}
    report = calibrate_firing(model, x, band=(20.0, 60.0))
    assert all(20.0 <= report["after"][n] <= 60.0 for n in names), report
    assert report["before"]["features.0"] < 20.0 and report["scales"]["features.0"] > 1.5  # it had work to do
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in stats.items())  # running statistics untouched
    gains = model.features[0].synapse.module[1].weight
    assert torch.allclose(gains, torch.full_like(gains, report["scales"]["features.0"]))
    assert model.training  # the mode is given back


def test_nir_export_after_folding_batchnorm():
    """NIR has no BatchNorm or max pooling: an average-pooled model exports once BatchNorm is folded."""
    import copy

    from adaspike.interop import export_nir
    from adaspike.retime import fold_batchnorm

    model = small(hidden=[5], pooling="avg").eval()
    with pytest.raises(ValueError, match="fold BatchNorm first"):
        export_nir(model, (2, 8, 8))
    folded = copy.deepcopy(model)
    assert fold_batchnorm(folded) == 3
    x = events()
    assert torch.allclose(folded(x), model(x), atol=1e-5)  # folding is exact in eval mode
    graph = export_nir(folded, (2, 8, 8))
    kinds = [type(node).__name__ for node in graph.nodes.values()]
    assert kinds.count("LIF") == 3 and "LI" in kinds and "AvgPool2d" in kinds and "Flatten" in kinds
