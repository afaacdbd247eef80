"""The torchvision zoo's patterns on small hand-built modules, and (slow, torchvision only) the zoo itself."""
import sys
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from adaspike.convert import ConvertedSNN, UnsupportedOperationError, convert
from adaspike.convert.trace import _outside_library

HERE = Path(__file__).name


def _agreement(ann, x, T, **kwargs):
    """(relative logit error, argmax agreement) of the converted SNN at T against the ANN."""
    snn, report = convert(ann, x, T=T, adafire=False, bias_correct=False, threshold_batches=4, batch_size=32,
                          **kwargs)
    with torch.no_grad():
        ref, out = ann(x), snn.run(x, T).logits
    return float((out - ref).norm() / ref.norm()), float((out.argmax(1) == ref.argmax(1)).double().mean()), snn, report


def _randomise_bn(model):
    gen = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.copy_(0.2 * torch.randn(m.running_mean.shape, generator=gen))
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
            if m.affine:
                m.weight.data.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.data.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
    return model.eval()


class Stem(nn.Module):
    """ResNet's stem: Conv → BN → ReLU(inplace) → MaxPool, then one hidden layer and a flatten readout."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1, self.relu = nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.conv2, self.fc = nn.Conv2d(8, 8, 3, padding=1), nn.Linear(8 * 4 * 4, 5)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = F.relu(self.conv2(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 4), 1))


def test_maxpool_after_a_relu_moves_in_front_of_the_neuron_and_the_stem_is_exact():
    torch.manual_seed(0)
    ann = _randomise_bn(Stem())
    x = torch.rand(64, 1, 16, 16)
    snn = ConvertedSNN(ann, example=x[:2])
    assert snn.maxpool_nodes == []              # fed by the analog image only: exact in rate, no warning
    assert tuple(snn.neurons[0].threshold.shape) == (8,)
    pooled = [n for n in snn.graph_module.graph.nodes if n.op == "call_module" and n.target == "maxpool"]
    assert pooled and pooled[0].args[0].target == "conv1"          # the pool takes the (BN-folded) current
    assert torch.allclose(snn.ann_forward(x)[0], ann(x), atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no max-pool warning
        rel, agree, _, _ = _agreement(ann, x, 128)
    assert rel < 0.05 and agree >= 0.95


def test_a_hidden_maxpool_still_warns_naming_the_line():
    ann = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 3)).eval()
    with pytest.warns(UserWarning, match=r"max-pool.*\b4 \(MaxPool2d\)"):
        convert(ann, torch.rand(8, 1, 8, 8), T=2, adafire=False, bias_correct=False, threshold_batches=1)


def test_pools_stay_on_spikes_where_the_move_is_not_exact():
    """A hidden pool (its current varies per step) and any pool under frame coding are not moved."""
    hidden = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
                           nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 3)).eval()
    x = torch.rand(4, 1, 8, 8)
    snn = ConvertedSNN(hidden, example=x[:2])
    pool = next(n for n in snn.graph_module.graph.nodes if n.op == "call_module" and n.target == "4")
    assert len(snn.maxpool_nodes) == 1
    assert pool.args[0].op == "call_module" and str(pool.args[0].target).startswith("neuron")  # max of spikes
    framed = ConvertedSNN(_randomise_bn(Stem()), frames=True, maxpool="per_step", example=torch.rand(2, 1, 16, 16))
    assert len(framed.maxpool_nodes) == 1      # the stem's input varies per frame: max of spikes, warned
    framed = ConvertedSNN(_randomise_bn(Stem()), frames=True, example=torch.rand(2, 1, 16, 16))
    assert framed.maxpool_nodes == [] and len(framed.pools) == 1    # frames' default: running sums, exact


def test_a_maxpool_whose_relu_has_other_users_stays_after_the_neuron():
    class Branch(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.fc = nn.Conv2d(1, 4, 3, padding=1), nn.Linear(4 * 4 * 4 + 4 * 8 * 8, 3)

        def forward(self, x):
            a = torch.relu(self.conv(x))
            return self.fc(torch.cat([F.max_pool2d(a, 2).flatten(1), a.flatten(1)], 1))

    ann = Branch().eval()
    x = torch.rand(4, 1, 8, 8)
    snn = ConvertedSNN(ann, example=x[:2])
    assert len(snn.maxpool_nodes) == 1 and len(snn.neurons) == 1
    assert torch.allclose(snn.ann_forward(x)[0], ann(x), atol=1e-5)


def test_torchvision_files_count_as_the_models_code():
    """torchvision lives beside torch (".../torchvision/" starts with ".../torch"): its lines are the model's."""
    torch_dir = Path(torch.__file__).parent
    assert _outside_library(str(torch_dir) + "vision/models/resnet.py")
    assert not _outside_library(str(torch_dir / "nn" / "modules" / "container.py"))


class LayerNorm2d(nn.LayerNorm):
    """ConvNeXt's channels-first LayerNorm: the forward calls F.layer_norm with the module's own weight."""

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


def test_a_norm_that_uses_its_own_weight_is_refused_as_layernorm_not_as_a_parameter():
    ann = nn.Sequential(nn.Conv2d(1, 4, 3), LayerNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3)).eval()
    with pytest.raises(UnsupportedOperationError) as err:
        ConvertedSNN(ann, example=torch.rand(2, 1, 8, 8))
    message = str(err.value)
    assert "layer_norm" in message and "LayerNorm divides" in message and "BatchNorm" in message
    assert HERE in message                      # the model's own line: the F.layer_norm call above


class ClassToken(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Conv2d(1, 4, 4, 4)
        self.class_token = nn.Parameter(torch.zeros(1, 1, 4))
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        x = self.proj(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)
        return self.head(torch.relu(x[:, 0]))


def test_a_class_token_is_refused_at_the_line_that_uses_it():
    with pytest.raises(UnsupportedOperationError, match=rf"class_token.*{HERE}.*class_token\.expand"):
        ConvertedSNN(ClassToken().eval(), example=torch.rand(2, 1, 8, 8))


class Hardswished(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Hardswish())
        self.fc = nn.Linear(4 * 36, 3)

    def forward(self, x):
        return self.fc(self.features(x).flatten(1))


def test_an_activation_inside_a_sequential_is_refused_naming_the_module_and_the_models_line():
    with pytest.raises(UnsupportedOperationError) as err:
        ConvertedSNN(Hardswished().eval(), example=torch.rand(2, 1, 8, 8))
    message = str(err.value)
    assert "Hardswish" in message and "features.2" in message and "self.features(x)" in message and HERE in message


class ZooPatterns(nn.Module):
    """SqueezeNet's fire (concat of two ReLU'd convs), ShuffleNet's channel shuffle, DenseNet's pre-activation BN
    on a concatenation, MobileNet's ReLU6, a residual add, dropout and a conv → ReLU → global-pool classifier."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
        self.squeeze = nn.Conv2d(8, 4, 1)
        self.expand1, self.expand3 = nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, 3, padding=1)
        self.dense_bn = nn.BatchNorm2d(16)
        self.dense_conv = nn.Conv2d(16, 8, 3, padding=1, bias=False)
        self.dw = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), nn.BatchNorm2d(8), nn.ReLU6())
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(8, 5, 1), nn.ReLU(inplace=True),
                                        nn.AdaptiveAvgPool2d((1, 1)))

    def forward(self, x):
        x = self.stem(x)
        s = F.relu(self.squeeze(x), inplace=True)
        fire = torch.cat([F.relu(self.expand1(s)), F.relu(self.expand3(s))], 1)
        b, c, h, w = fire.size()                                   # channel shuffle, as torchvision writes it
        shuffled = fire.view(b, 2, c // 2, h, w).transpose(1, 2).contiguous().view(b, -1, h, w)
        dense = torch.cat([x, shuffled[:, :8]], 1)
        y = self.dense_conv(F.relu(self.dense_bn(dense)))
        y = self.dw(y) + x
        return torch.flatten(self.classifier(y), 1)


@pytest.mark.slow
def test_the_zoos_patterns_convert_and_approach_the_ann():
    torch.manual_seed(0)
    ann = _randomise_bn(ZooPatterns())
    x = torch.rand(64, 1, 8, 8)
    snn = ConvertedSNN(ann, example=x[:2])
    assert torch.allclose(snn.ann_forward(x)[0], ann(x), atol=1e-5)
    rel_short, _, _, _ = _agreement(ann, x, 16)
    rel_long, agree, _, _ = _agreement(ann, x, 256)
    assert rel_long < rel_short / 2 and rel_long < 0.1 and agree >= 0.9


def test_signed_neurons_with_headroom_follow_the_ann_where_adafire_lags():
    """Signed bursts with memory remove the unevenness error, and peak thresholds with headroom the clipping:
    the large-T error is then quantisation only (θ/T per layer), far below AdaFire's at the same T."""
    torch.manual_seed(0)
    ann = _randomise_bn(ZooPatterns())
    x = torch.rand(32, 1, 8, 8)
    rel_adafire, _, _, _ = _agreement(ann, x, 32, gamma=4)
    rel_signed, agree, snn, report = _agreement(ann, x, 32, gamma=256, neuron="signed", threshold_headroom=4.0)
    assert report.options["threshold_headroom"] == 4.0
    assert rel_signed < 0.02 and agree == 1.0 and rel_signed < rel_adafire / 3
    peaks = [float(n.threshold.max()) * 256 / 4.0 for n in snn.neurons]
    assert all(bool((n.threshold == n.threshold.max()).all()) for n in snn.neurons)   # one peak per layer
    assert min(peaks) > 0
    # the statistics count negative spikes as events: the total never falls when negative spikes are sent
    with torch.no_grad():
        snn.runner = "sequence"
        by_layer = snn.run(x[:4], 8).logits
        assert all(float(n.spike_total) >= 0 for n in snn.neurons)
        snn.runner = "step"
        assert torch.allclose(snn.run(x[:4], 8).logits, by_layer, atol=1e-5)   # both runners, the same spikes


def test_threshold_headroom_must_be_positive():
    ann = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)).eval()
    with pytest.raises(ValueError, match="headroom"):
        convert(ann, torch.rand(8, 4), T=4, adafire=False, threshold_headroom=0.0)


@pytest.mark.slow
def test_the_zoo_converts_small_torchvision_models(tmp_path):
    from benchmarks.convert_zoo import load_torchvision_models, main

    if load_torchvision_models() is None:
        pytest.skip("torchvision is not installed")
    out = tmp_path / "zoo.json"
    rc = main(["--models", "squeezenet1_1", "mobilenet_v3_small", "--T", "64", "--calib", "64", "--eval", "32",
               "--batch", "32", "-o", str(out)])
    import json

    rows = {r["model"]: r for r in json.loads(out.read_text())["models"]}
    assert rc == 0
    assert rows["squeezenet1_1"]["status"] == "converts"
    squeeze = rows["squeezenet1_1"]
    assert squeeze["fold_max_abs_error"] < 1e-3 and set(squeeze["by_T"]) == {"8", "16", "32", "64"}
    assert not squeeze["traceback"] if "traceback" in squeeze else True
    refused = rows["mobilenet_v3_small"]
    assert refused["status"] == "refused" and "Hardswish" in refused["error"] and "mobilenetv3.py" in refused["error"]
    assert "torchvision" in sys.modules


def test_the_report_repr_is_short():
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 8), nn.ReLU(),
                        nn.Linear(8, 3)).eval()
    _, report = convert(ann, torch.rand(16, 1, 8, 8), T=4, gammas=(1, 2), gamma_target=1, threshold_batches=1)
    text = repr(report)
    assert text.startswith("ConversionReport(T=4, 2 neurons") and "Γ per layer" in text
    assert "tensor" not in text and len(text.splitlines()) <= 6
