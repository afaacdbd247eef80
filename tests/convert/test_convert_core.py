"""Conversion on the shared core: runners, backends, fx fallback, neuron factory, frames, IAT selection."""
import warnings

import pytest
import torch
from torch import nn

from adaspike.convert import (ConversionNeuron, ConvertedSNN, ExitPolicy, UnsupportedOperationError, convert,
                              evaluate_snn, make_neuron, register_conversion_neuron, run_adafire, select_exit_policy)
from adaspike.convert.neuron import NEURONS
from adaspike.core import BinarySpike, available_backends
from adaspike.models.ann import build_ann


def _spec_loop(current, theta, gamma):
    """Spec §3 written out independently: v += z + θ/(2T); n = clip(⌊v/θ⌋, 0, Γ); v -= nθ."""
    T = current.shape[0]
    v = torch.zeros_like(current[0])
    counts = []
    for z in current:
        v = v + z + theta / (2 * T)
        n = torch.clamp(torch.floor(v / theta), 0, gamma)
        v = v - n * theta
        counts.append(n)
    return torch.stack(counts)


@pytest.mark.parametrize("backend", [b for b in ("reference", "numba") if b in available_backends()])
def test_core_neuron_matches_the_spec_loop(backend):
    torch.manual_seed(0)
    current = torch.rand(8, 16, 40, dtype=torch.float64) * 3.0 - 0.5
    for gamma in (1, 2, 4, 8):
        assert torch.equal(run_adafire(current, 0.7, gamma, backend=backend), _spec_loop(current, 0.7, gamma))


def _small_resnet():
    torch.manual_seed(0)
    return build_ann("resnet", widths=(4, 8)).eval()


@pytest.mark.slow
def test_layerwise_stepwise_and_backends_agree():
    ann = _small_resnet()
    x = torch.rand(24, 1, 28, 28)
    snn, _ = convert(ann, x, T=4, adafire=True, gammas=(1, 2, 4), gamma_target=2, threshold_batches=1)
    auto = snn.run(x, 4, count_ops=True)     # on CPU: the step runner
    snn.runner = "sequence"
    layerwise = snn.run(x, 4, count_ops=True)
    stepwise = snn.run(x, 4, exit_rule=ExitPolicy(torch.full((4,), 5.0)), count_ops=True)
    assert torch.equal(layerwise.logits, stepwise.logits) and torch.equal(auto.logits, layerwise.logits)
    assert torch.allclose(auto.counter.spike_count, layerwise.counter.spike_count)
    assert torch.allclose(layerwise.counter.density, stepwise.counter.density)
    assert torch.allclose(layerwise.counter.spike_count, stepwise.counter.spike_count)
    snn.max_rows = 4 * 5        # chunks of 5 samples: same result
    assert torch.equal(snn.run(x, 4).logits, layerwise.logits)
    snn.set_backend("reference")
    assert torch.allclose(snn.run(x, 4).logits, layerwise.logits, atol=1e-5)


def test_early_exit_really_drops_samples():
    ann = _small_resnet()
    x = torch.rand(16, 1, 28, 28)
    snn, _ = convert(ann, x, T=4, adafire=False, threshold_batches=1)
    out = snn.run(x, 4, exit_rule=ExitPolicy(torch.full((4,), -1.0)), count_ops=True)
    assert (out.exit_step == 1).all() and torch.equal(out.counter.steps, torch.ones(16, dtype=torch.float64))


class ShapeCheckedCNN(nn.Module):
    """A user's CNN whose forward checks the input shape (torch.fx cannot trace the check)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(6 * 14 * 14, 16), nn.ReLU(), nn.Linear(16, 10))

    def forward(self, x):
        if x.shape[-1] != 28:
            raise ValueError("expected 28x28 images")
        return self.head(self.features(x))


class FunctionalCNN(nn.Module):
    """Shape check + functional relu: neither fx nor the module-replacement fallback can convert it."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(1, 4, 3, padding=1), nn.Linear(4 * 28 * 28, 10)

    def forward(self, x):
        if x.shape[-1] != 28:
            raise ValueError("expected 28x28 images")
        return self.fc(torch.relu(self.conv(x)).flatten(1))


@pytest.mark.slow
def test_untraceable_module_network_converts_by_module_replacement():
    torch.manual_seed(0)
    ann = ShapeCheckedCNN().eval()
    x = torch.rand(64, 1, 28, 28)
    with pytest.warns(UserWarning, match=r"features\.3"):          # the user's module path, not an fx node
        snn, report = convert(ann, x, T=16, adafire=True, gammas=(1, 2, 4), gamma_target=2, threshold_batches=1)
    assert not snn.traced and len(snn.neurons) == 2
    assert [s.kind for s in snn.synapses] == ["first", "hidden", "readout"]
    agree = float((snn(x).argmax(1) == ann(x).argmax(1)).double().mean())
    assert agree >= 0.8
    result = evaluate_snn(snn, [(x, ann(x).argmax(1))], 16)
    assert result["energy_pj"] > 0 and result["accuracy"] >= 0.8


def test_untraceable_functional_network_names_the_users_line():
    ann = FunctionalCNN().eval()
    with pytest.raises(UnsupportedOperationError) as info:
        convert(ann, torch.rand(8, 1, 28, 28), T=2)
    message = str(info.value)
    assert "test_convert_core.py" in message and "x.shape[-1] != 28" in message
    assert "leaf_modules" in message and "concrete_args" in message


def test_a_new_conversion_neuron_is_one_class():
    @register_conversion_neuron("plain-if-test")
    class PlainIF(ConversionNeuron):
        def spike_rule(self):
            return BinarySpike()

    try:
        neuron = make_neuron("plain-if-test", 3, per_channel=True)
        assert isinstance(neuron, PlainIF)
        ann = _small_resnet()
        x = torch.rand(16, 1, 28, 28)
        snn, _ = convert(ann, x, T=4, adafire=False, neuron="plain-if-test", threshold_batches=1)
        assert all(isinstance(n, PlainIF) for n in snn.neurons)
        assert snn.run(x, 4).logits.shape == (16, 10)
    finally:
        NEURONS.pop("plain-if-test")
    with pytest.raises(ValueError, match="unknown conversion neuron"):
        make_neuron("nope", 3, True)


def test_constant_frames_equal_direct_coding():
    ann = _small_resnet()
    x = torch.rand(16, 1, 28, 28)
    snn, _ = convert(ann, x, T=4, adafire=False, threshold_batches=1)
    framed = ConvertedSNN(ann, 4, frames=True, neuron="adafire", maxpool="per_step")
    framed.load_state_dict(snn.state_dict())
    framed.load_neuron_config(snn.neuron_config())
    frames = x.unsqueeze(1).expand(16, 4, 1, 28, 28)
    assert torch.allclose(framed.run(frames, 4).logits, snn.run(x, 4).logits, atol=1e-6)
    assert torch.allclose(framed.ann_forward(frames)[0], snn.ann_forward(x)[0], atol=1e-6)
    # left unsaid, event frames get signed neurons and running max-pools, static inputs the paper's AdaFire
    from adaspike.convert import SignedNeuron

    by_default = ConvertedSNN(ann, 4, frames=True)
    assert all(type(n) is SignedNeuron for n in by_default.neurons)
    assert not any(type(n) is SignedNeuron for n in snn.neurons) and not snn.pools


def test_exit_at_threshold_one_is_possible():
    logits = torch.zeros(3, 2, 4)
    logits[:, :, 0] = 100.0                                 # certain from step 1: entropy exactly 0
    policy = ExitPolicy(torch.ones(3, dtype=torch.float64))
    assert (policy.exit_steps(logits) == 1).all()


def _noisy_logits(T=6, B=400, C=5, seed=0):
    torch.manual_seed(seed)
    y = torch.randint(0, C, (B,))
    signal = torch.nn.functional.one_hot(y, C).double() * torch.linspace(0.2, 2.0, T).view(T, 1, 1)
    return signal + torch.randn(T, B, C, dtype=torch.float64), y


@pytest.mark.parametrize("folds", [1, 4])
def test_selected_policy_respects_the_tolerance_on_held_back_data(folds):
    logits, y = _noisy_logits()
    policy, info = select_exit_policy([logits], [y], tolerance=0.3, folds=folds, criterion="losses")
    assert info["held_out_samples"] == (100 if folds == 1 else 400)      # cross-fitting holds back every sample
    assert 100 * info["held_out_losses"] / info["held_out_samples"] <= 0.3 + 1e-9
    assert info["alpha"] is not None and abs(info["alpha"] + info["beta"] - 1) < 1e-12
    assert info["held_out_mean_steps"] == min(r["mean_steps"] for r in info["candidates"] if r["within_tolerance"])
    # the final thresholds come from all calibration samples with the chosen α
    full = select_exit_policy([logits], [y], tolerance=0.3, folds=folds, alphas=(info["alpha"],), criterion="losses")[0]
    assert torch.equal(policy.thresholds, full.thresholds)


def test_selection_counts_losses_not_net_accuracy():
    """A candidate that loses 3 held-back samples and gains 3 others keeps the net accuracy but must fail."""
    T, C = 2, 3
    y = torch.zeros(100, dtype=torch.long)
    logits = torch.zeros(T, 100, C, dtype=torch.float64)
    logits[:, :, 0] = 5.0                       # 94 samples: right and certain from step 1
    for i in range(94, 97):                     # right at T, wrong (and certain) at step 1: lost by exiting at 1
        logits[0, i] = torch.tensor([0.0, 9.0, 0.0])
        logits[1, i] = torch.tensor([30.0, 0.0, 0.0])
    for i in range(97, 100):                    # wrong at T, right (and certain) at step 1: gained by exiting at 1
        logits[0, i] = torch.tensor([9.0, 0.0, 0.0])
        logits[1, i] = torch.tensor([0.0, 30.0, 0.0])
    policy, info = select_exit_policy([logits], [y], tolerance=0.3, folds=1, held_fraction=1.0, alphas=(0.0, 1.0),
                                      criterion="losses")
    eager = info["candidates"][0]
    assert eager["accuracy"] == info["held_out_fixed_T_accuracy"] and eager["losses"] == 3
    assert not eager["within_tolerance"] and info["alpha"] == 1.0


def test_untrained_ann_warns_at_chance_level():
    torch.manual_seed(0)
    ann = build_ann("vgg", widths=(4, "M"), hidden=8).eval()
    x, y = torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        convert(ann, (x, y), T=2, adafire=False, threshold_batches=1)
    assert any("chance level" in str(w.message) for w in caught)


def test_user_model_loads_from_safetensors_and_pt(tmp_path):
    from safetensors.torch import save_file

    from adaspike.cli.convert import load_user_model

    model = ShapeCheckedCNN()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "w.safetensors"))
    torch.save(model.state_dict(), tmp_path / "w.pt")
    spec = f"{__name__}:ShapeCheckedCNN"
    for name in ("w.safetensors", "w.pt"):
        loaded = load_user_model(spec, tmp_path / name)
        assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    with pytest.raises(ValueError, match="module:factory"):
        load_user_model("no-colon", None)


def test_nir_export_has_if_nodes_with_burst_caps_and_residual_edges(tmp_path):
    import nir

    from adaspike.convert import export_converted

    ann = _small_resnet()
    x = torch.rand(16, 1, 28, 28)
    snn, report = convert(ann, x, T=4, gammas=(1, 2, 4), gamma_target=2, threshold_batches=1)
    graph = nir.read(export_converted(snn, x[:2], tmp_path / "snn.nir"))
    ifs = {k: v for k, v in graph.nodes.items() if isinstance(v, nir.IF)}
    assert len(ifs) == len(snn.neurons)
    assert [v.metadata["burst_cap"] for v in ifs.values()] == report.gammas
    assert all(v.metadata["graded_output"] for v in ifs.values())
    inputs = {}
    for src, dst in graph.edges:
        inputs.setdefault(dst, []).append(src)
    assert any(len(inputs.get(k, [])) == 2 for k in ifs)          # a residual block sums two inputs
    first = next(iter(ifs.values()))
    theta = snn.neurons[0].threshold.double().numpy()
    assert abs(first.v_threshold[:, 0, 0] - theta).max() < 1e-6 and graph.metadata["time_steps"] == 4


def test_nir_export_refuses_max_pool():
    from adaspike.convert import converted_to_nir

    ann = build_ann("vgg", widths=(4, 4, "M"), hidden=8, pool="max").eval()
    x = torch.rand(8, 1, 28, 28)
    with pytest.warns(UserWarning):
        snn, _ = convert(ann, x, T=2, adafire=False, threshold_batches=1)
    with pytest.raises(UnsupportedOperationError, match="MaxPool2d"):
        converted_to_nir(snn, x[:2])


def test_nir_export_refuses_a_neuron_plain_if_cannot_express():
    """A registered neuron with a leak (or a refractory rule) is refused by name, not exported as a wrong IF."""
    from adaspike.convert import converted_to_nir
    from adaspike.core import lif_discrete

    @register_conversion_neuron("leaky-test")
    class LeakyIF(ConversionNeuron):
        def spike_rule(self):
            return BinarySpike()

        def ssm(self, dt=None):
            theta = self.threshold.view(-1, 1, 1) if self.per_channel else self.threshold
            return lif_discrete(0.9, 1.0, theta)

    try:
        ann = _small_resnet()
        x = torch.rand(16, 1, 28, 28)
        snn, _ = convert(ann, x, T=2, adafire=False, neuron="leaky-test", threshold_batches=1)
        with pytest.raises(UnsupportedOperationError, match="LeakyIF .* has no NIR IF form"):
            converted_to_nir(snn, x[:2])
    finally:
        NEURONS.pop("leaky-test")
