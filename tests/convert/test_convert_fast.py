"""The fast paths give exactly what the slow ones give: the step neuron against the core scan, the searches'
layer replay against full reruns, per-step logits from the step runner against the layer-by-layer runner."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from adaspike.convert import ConvertedSNN, convert, fit_thresholds, layer_tables, make_neuron, run_context
from adaspike.convert.replay import LayerReplay
from adaspike.convert.sensitivity import scale_threshold, set_gamma
from adaspike.core import BurstSpike, available_backends
from adaspike.models.ann import build_ann

BACKENDS = [b for b in ("reference", "numba") if b in available_backends()]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), gamma=st.integers(1, 8), steps=st.integers(1, 6), scale=st.floats(0.1, 4.0))
def test_step_neuron_is_the_core_scan_bit_for_bit(seed, gamma, steps, scale):
    g = torch.Generator().manual_seed(seed)
    z = [(torch.rand(5, 3, 4, 4, generator=g) * 2 - 0.5) * scale for _ in range(steps)]
    threshold = torch.rand(3, generator=g) + 0.05
    runs = {}
    for backend in ["auto"] + BACKENDS:
        neuron = make_neuron("adafire", 3, True, gamma=gamma)
        neuron.threshold.copy_(threshold)
        neuron.bias_shift.copy_(torch.rand(3, generator=g) * 0 + 0.01)
        with run_context(mode="step", steps=steps, backend=backend):
            outs = [neuron(zt) for zt in z]
        runs[backend] = (torch.stack(outs), neuron.state.x, neuron.state.s, float(neuron.spike_total))
    for backend in BACKENDS:
        for a, b in zip(runs["auto"], runs[backend]):
            assert torch.equal(torch.as_tensor(a), torch.as_tensor(b)), backend


def test_fast_burst_count_is_the_core_rule():
    v = torch.linspace(-3, 30, 2001)
    theta = torch.tensor(0.37)
    for gamma in (1, 3, 8):
        rule = BurstSpike(gamma)
        assert torch.equal(make_neuron("adafire", 1, False).spike_count(rule, v.clone(), theta), rule(v, theta))


def test_replay_refuses_graphs_with_in_place_operations():
    from torch import fx

    from adaspike.convert.replay import _has_inplace

    def relu_method(a):
        return a.relu_()

    def plus_in_place(a):
        return a.add_(1.0)

    assert _has_inplace(fx.symbolic_trace(relu_method)) and _has_inplace(fx.symbolic_trace(plus_in_place))
    assert _has_inplace(fx.symbolic_trace(nn.Sequential(nn.Conv2d(1, 2, 1), nn.ReLU(inplace=True))))
    assert not _has_inplace(fx.symbolic_trace(nn.Sequential(nn.Conv2d(1, 2, 1), nn.ReLU())))


class _ShapeChecked(nn.Module):
    """Not traceable by fx (shape check): converted by module replacement, so no replay."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                                  nn.Linear(4 * 14 * 14, 12), nn.ReLU(), nn.Linear(12, 10))

    def forward(self, x):
        if x.shape[-1] != 28:
            raise ValueError("28x28 only")
        return self.body(x)


def _model(kind):
    torch.manual_seed(0)
    if kind == "resnet":
        return build_ann("resnet", widths=(4, 8)).eval()
    if kind == "vgg":
        return build_ann("vgg", widths=(4, "M", 8, "M"), hidden=16).eval()
    return _ShapeChecked().eval()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["resnet", "vgg", "fallback"])
@pytest.mark.parametrize("runner", ["step", "sequence"])
def test_layer_replay_gives_the_full_rerun_tables(kind, runner):
    x = torch.rand(12, 1, 28, 28)
    snn = ConvertedSNN(_model(kind), 4, example=x[:2], runner=runner).eval()
    for n in snn.neurons:
        n.gamma = 4
    fit_thresholds(snn, [x], 4)
    replay = LayerReplay(snn, x, 4)
    assert bool(replay.records) == (kind in ("resnet", "vgg"))       # replay only where it is safe
    assert torch.equal(replay.base.logits, snn.run(x, 4).logits)
    for setter, cands, neutral in ((set_gamma, [1, 2, 3, 4], 4), (scale_threshold, [1.0, 1.5, 3.0], 1.0)):
        fast = layer_tables(snn, x, 4, cands, setter, neutral=neutral)
        slow = layer_tables(snn, x, 4, cands, setter, neutral=neutral, replay=False)
        assert fast == slow
    if kind == "resnet":        # the rerun from a middle layer really skips the layers above it
        calls = []
        hooks = [n.register_forward_pre_hook(lambda m, a, i=i: calls.append(i)) for i, n in enumerate(snn.neurons)]
        try:
            replay.run_from(2)
        finally:
            for h in hooks:
                h.remove()
        assert calls and min(calls) == 2


@pytest.mark.slow
@pytest.mark.parametrize("runner", ["step", "sequence"])
def test_burst_caps_above_a_layers_peak_are_copied_not_run(runner, monkeypatch):
    from adaspike.convert import sensitivity

    x = torch.rand(12, 1, 28, 28)
    snn = ConvertedSNN(_model("resnet"), 4, example=x[:2], runner=runner).eval()
    for n in snn.neurons:
        n.gamma = 8
    fit_thresholds(snn, [x], 4)
    for n in snn.neurons[::2]:          # thresholds so high that these layers never fire more than a few
        n.threshold.mul_(4.0)
    reruns = []
    real = LayerReplay.run_from
    monkeypatch.setattr(LayerReplay, "run_from", lambda self, i: reruns.append(i) or real(self, i))
    fast = layer_tables(snn, x, 4, list(range(1, 9)), set_gamma, neutral=8, burst_caps=True)
    copied = 7 * len(snn.neurons) - len(reruns)
    assert copied > 0
    assert fast == layer_tables(snn, x, 4, list(range(1, 9)), set_gamma, neutral=8, replay=False)
    assert sensitivity.allocate_gammas(snn, x, 4, list(range(1, 9)), 4, 1.0)["sensitivity"] == fast[0]


def test_replay_past_its_memory_limit_reruns_everything():
    x = torch.rand(8, 1, 28, 28)
    snn = ConvertedSNN(_model("resnet"), 3, example=x[:2]).eval()
    fit_thresholds(snn, [x], 3)
    replay = LayerReplay(snn, x, 3, max_cache_bytes=1000)
    assert replay.records is None
    assert torch.equal(replay.run_from(1).logits, snn.run(x, 3).logits)


def test_per_step_logits_are_the_same_from_both_runners():
    ann = _model("resnet")
    x = torch.rand(10, 1, 28, 28)
    snn, _ = convert(ann, x, T=4, adafire=True, gammas=(1, 2, 4), gamma_target=2, threshold_batches=1)
    step = snn.run(x, 4, keep_steps=True)
    snn.runner = "sequence"
    sequence = snn.run(x, 4, keep_steps=True)
    assert step.step_logits.shape == (4, 10, 10)
    assert torch.equal(step.step_logits, sequence.step_logits)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), T=st.integers(1, 16), gamma=st.integers(1, 8),
       quantiser=st.sampled_from(["floor", "round"]))
def test_in_place_threshold_search_is_the_formula(seed, T, gamma, quantiser):
    from adaspike.convert.calibrate import GRID_STEPS, mse_threshold, quantise

    def formula(a, theta):      # conversion spec §4, written out
        if quantiser == "floor":
            return theta / T * torch.floor(T * torch.clamp(a / theta, 0, gamma))
        return theta / T * torch.clamp(torch.floor(T * a / theta + 0.5), 0, gamma * T)

    g = torch.Generator().manual_seed(seed)
    a = torch.relu(torch.randn(3, 200, generator=g))
    a[1] = 0.0                                  # a channel that never activates
    theta = torch.rand(3, 1, generator=g) + 0.05
    assert torch.equal(quantise(a, theta, T, gamma, quantiser), formula(a, theta))
    peak = a.amax(1)
    peak = torch.where(peak > 0, peak, peak.max().clamp_min(1e-6))
    thetas = torch.stack([peak * (1 - 0.01 * i) for i in range(GRID_STEPS)])
    errs = torch.stack([(a - formula(a, th.unsqueeze(1))).square().sum(1) for th in thetas])
    expected = thetas.gather(0, errs.argmin(0, keepdim=True))[0]    # first minimum: the search's strict <
    assert torch.equal(mse_threshold(a, T, gamma, quantiser), expected)


@pytest.mark.parametrize("kind", ["resnet", "vgg", "fallback"])
def test_bias_correction_with_replay_is_the_full_rerun_one(kind):
    import copy

    from adaspike.convert import bias_correction

    x = torch.rand(12, 1, 28, 28)
    snn = ConvertedSNN(_model(kind), 4, example=x[:2]).eval()
    for n in snn.neurons:
        n.gamma = 3
    fit_thresholds(snn, [x], 4)
    twin = copy.deepcopy(snn)
    fast, slow = bias_correction(snn, x, 4), bias_correction(twin, x, 4, replay=False)
    assert fast == slow and any(fast)
    for a, b in zip(snn.neurons, twin.neurons):
        assert torch.equal(a.bias_shift, b.bias_shift)
    assert torch.equal(snn.run(x, 4).logits, twin.run(x, 4).logits)


def test_refitting_some_layers_leaves_the_others_and_fits_them_as_a_full_fit():
    x = torch.rand(12, 1, 28, 28)
    snn = ConvertedSNN(_model("resnet"), 4, example=x[:2]).eval()
    for n in snn.neurons:
        n.gamma = 8
    fit_thresholds(snn, [x[:6], x[6:]], 4)
    before = [n.threshold.clone() for n in snn.neurons]
    snn.neurons[1].gamma = snn.neurons[3].gamma = 2
    fit_thresholds(snn, [x[:6], x[6:]], 4, layers=[1, 3])
    partial = [n.threshold.clone() for n in snn.neurons]
    fit_thresholds(snn, [x[:6], x[6:]], 4)
    for i, n in enumerate(snn.neurons):
        assert torch.equal(partial[i], n.threshold)
        assert torch.equal(partial[i], before[i]) == (i not in (1, 3))
