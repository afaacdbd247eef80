"""Whole-model retime: SSM form = plain adLIF loop, ZOH linear equivalence with count splitting, input scaling,
BatchNorm, readout, errors, and an end-to-end retime of a small network (incl. a checkpoint round trip)."""
import math

import pytest
import torch
from torch import nn

from adaspike.core import adlif_discrete, scan
from adaspike.layers import AdLIF, LIF, LeakyIntegrator, SpikingLayer, SSMNeuron, TimeFolded, TimeReduce
from adaspike.models import build_model
from adaspike.retime import RetimeError, SSMIntegrator, fold_batchnorm, retime, to_ssm

f64 = torch.float64


def test_ssm_form_equals_plain_adlif_loop_with_spikes():
    torch.manual_seed(0)
    n, T = 64, 300
    alpha = torch.empty(n, dtype=f64).uniform_(math.exp(-1 / 5), math.exp(-1 / 25))
    beta = torch.empty(n, dtype=f64).uniform_(math.exp(-1 / 30), math.exp(-1 / 120))
    a = torch.empty(n, dtype=f64).uniform_(0, 1)  # a < 0 can be unstable and amplify rounding without bound
    b = torch.empty(n, dtype=f64).uniform_(0, 2)
    current = 10 * torch.rand(T, 1, n, dtype=f64)
    out = scan(current, adlif_discrete(alpha, beta, a, b), return_states=True, backend="reference")
    u = w = s = torch.zeros(1, n, dtype=f64)
    for t in range(T):  # Bittar & Garner, θ = 1
        w = beta * w + a * u + b * s
        u = alpha * (u - s) + (1 - alpha) * (current[t] - w)
        s = (u >= 1).to(f64)
        assert torch.equal(out.spikes[t], s)
        assert float(((out.states[t, ..., 0] - u).abs() / u.abs().clamp_min(1)).max()) <= 1e-12
    assert float(out.spikes.sum()) > 100  # the comparison really included spikes


def _linear_adlif(bias=True):
    torch.manual_seed(1)
    layer = SpikingLayer(nn.Linear(5, 4, bias=bias), AdLIF(4, dt=4e-3, threshold=1e3, parameterisation="discrete"))
    with torch.no_grad():
        layer.synapse.module.bias.uniform_(-0.5, 0.5) if bias else None
    return nn.Sequential(layer)


def _states(model, x):
    layer = model[0]
    return layer.neuron.run(layer.synapse(x), return_states=True).states


@pytest.mark.parametrize("k", [2, 4])
def test_zoh_linear_equivalence_piecewise_constant_and_split_counts(k):
    model = _linear_adlif()
    counts = torch.poisson(2 * torch.ones(12, 3, 5, dtype=torch.float32))
    source = _states(model, counts).detach().to(f64)
    fine_model = retime(model, ratio=1 / k, method="zoh")
    assert fine_model[0].neuron.dt == pytest.approx(4e-3 / k)
    split = torch.repeat_interleave(counts / k, k, dim=0)  # counts spread over k sub-bins
    fine = _states(fine_model, split).detach().to(f64)
    assert float((fine[k - 1::k] - source).abs().max()) <= 1e-5  # float32 drive; 1e-10 in float64 below
    level = retime(model, ratio=1 / k, method="zoh", input_scale=1.0)
    held = _states(level, torch.repeat_interleave(counts, k, dim=0)).detach().to(f64)
    assert float((held[k - 1::k] - source).abs().max()) <= 1e-5


def test_zoh_linear_equivalence_in_float64():
    model = _linear_adlif().double()
    counts = torch.poisson(2 * torch.ones(10, 2, 5, dtype=f64))
    source = _states(model, counts)
    fine = _states(retime(model, ratio=0.25, method="zoh"), torch.repeat_interleave(counts / 4, 4, dim=0))
    assert float((fine[3::4] - source).detach().abs().max()) <= 1e-10


def test_input_scale_touches_weights_only():
    model = _linear_adlif()
    out = retime(model, ratio=0.5, method="zoh")
    lin, lin0 = out[0].synapse.module, model[0].synapse.module
    assert torch.equal(lin.weight, lin0.weight * 2) and torch.equal(lin.bias, lin0.bias)
    for method, scale in (("tau", 1.0), ("none", 1.0), ("euler", 2.0), ("bilinear", 2.0)):
        assert torch.equal(retime(model, ratio=0.5, method=method).retime_info.input_scale * torch.ones(1),
                           scale * torch.ones(1))
    assert retime(model, ratio=0.5, method="zoh", input_scale=1.0)[0].synapse.module.weight.equal(lin0.weight)
    model.input_kind = "analog"
    assert retime(model, ratio=0.5, method="zoh")[0].synapse.module.weight.equal(lin0.weight)
    model.input_kind = "bogus"
    with pytest.raises(ValueError, match="input_kind"):
        retime(model, ratio=0.5, method="zoh")


def test_batchnorm_fold_then_scale_equals_scaling_w_x():
    torch.manual_seed(2)
    seq = nn.Sequential(nn.Linear(6, 3), nn.BatchNorm1d(3))
    with torch.no_grad():
        seq[1].running_mean.uniform_(-1, 1)
        seq[1].running_var.uniform_(0.5, 2)
        seq[1].weight.uniform_(0.5, 2)
        seq[1].bias.uniform_(-1, 1)
    model = nn.Sequential(SpikingLayer(seq, LIF(3, dt=1e-3))).eval()
    out = retime(model, ratio=0.5, method="zoh")
    assert out.retime_info.folded_batchnorms == 1
    assert isinstance(out[0].synapse.module[1], nn.Identity)
    x = torch.rand(4, 6)
    expected = seq.eval()(x * 2.0)  # BN(W(x/ρ) + b) with ρ = 1/2
    assert torch.allclose(out[0].synapse.module(x), expected, atol=1e-5)
    assert isinstance(model[0].synapse.module[1], nn.BatchNorm1d)  # the source model is untouched
    folded = nn.Sequential(nn.Linear(6, 3), nn.BatchNorm1d(3)).eval()
    folded.load_state_dict(seq.state_dict())
    assert fold_batchnorm(folded) == 1
    assert torch.allclose(folded(x), seq.eval()(x), atol=1e-5)


def test_readout_sums_are_normalised():
    model = nn.Sequential(SpikingLayer(nn.Linear(3, 2), LIF(2, dt=2e-3, threshold=0.05)), TimeReduce("sum"))
    x = torch.rand(40, 5, 3)
    src = model(x)
    fine_x = torch.repeat_interleave(x / 2, 2, dim=0)
    auto = retime(model, ratio=0.5, method="zoh")(fine_x)
    keep = retime(model, ratio=0.5, method="zoh", readout="keep")(fine_x)
    assert torch.allclose(auto, keep * 0.5)
    mean = retime(model, ratio=0.5, method="zoh", readout="mean")
    assert mean[1].mode == "mean" and model[1].mode == "sum"
    assert float(src.sum()) > 0 and float(keep.sum()) > 0


def test_errors_name_the_layer():
    model = nn.Sequential(SpikingLayer(nn.Linear(3, 2), LIF(2, dt=4e-3, tau=2e-3, tau_range=(1e-3, 1.0))))
    with pytest.raises(RetimeError, match=r"0\.neuron.*unstable"):
        retime(model, dt=40e-3, method="euler")
    with pytest.raises(ValueError, match="exactly one"):
        retime(model, method="zoh")
    with pytest.raises(ValueError, match="unknown retime method"):
        retime(model, ratio=2.0, method="fast")
    with pytest.raises(ValueError, match="no neuron layers"):
        retime(nn.Linear(2, 2), ratio=2.0)
    mixed = nn.Sequential(LIF(2, dt=1e-3), LIF(2, dt=2e-3))
    with pytest.raises(ValueError, match="different time steps"):
        retime(mixed, ratio=2.0)
    held = retime(model, ratio=0.5, method="zoh")
    with pytest.raises(RetimeError, match="tau"):
        retime(held, ratio=2.0, method="tau")


def test_tau_scales_native_decays_only():
    layer = AdLIF(3, dt=4e-3, parameterisation="discrete", a=0.3)
    model = nn.Sequential(SpikingLayer(nn.Linear(2, 3), layer))
    out = retime(model, dt=2e-3, method="tau")
    new = out[0].neuron
    assert isinstance(new, AdLIF) and new.dt == 2e-3
    src, dst = to_ssm(layer), to_ssm(new)
    assert torch.allclose(dst.H[..., 1, 1], src.H[..., 1, 1] ** 0.5, rtol=1e-6)  # float32 parameters; β_T = β_S^ρ
    assert torch.equal(dst.H[..., 1, 0], src.H[..., 1, 0])  # a unchanged
    assert torch.allclose(1 - dst.B[..., 0], (1 - src.B[..., 0]) ** 0.5, rtol=1e-6)  # α_T = α_S^ρ


def test_end_to_end_small_network_and_checkpoint(tmp_path):
    from adaspike.train import load_model, save_checkpoint

    torch.manual_seed(3)
    model = build_model("snn", input_shape=[2, 4, 4], classes=3, hidden=[8], neuron="adlif", dt=4e-3,
                        readout="li-mean")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = (torch.rand(10, 2, 2, 4, 4) < 0.3).float()
    assert torch.equal(retime(model, ratio=1.0, method="zoh")(x), model(x))
    fine = retime(model, dt="1ms", method="zoh")
    kinds = {type(m) for m in fine.modules()}
    assert SSMNeuron in kinds and SSMIntegrator in kinds and AdLIF not in kinds and LeakyIntegrator not in kinds
    assert all(m.dt == pytest.approx(1e-3) for m in fine.modules() if hasattr(m, "ssm"))
    y = fine(torch.repeat_interleave(x / 4, 4, dim=0))
    assert y.shape == (2, 3) and torch.isfinite(y).all()
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    path = save_checkpoint(tmp_path / "fine.safetensors", fine)
    loaded = load_model(path)
    assert torch.equal(loaded(torch.repeat_interleave(x / 4, 4, dim=0)), y)
