"""Tracing, BN folding, unsupported ops and a small end-to-end conversion."""
import pytest
import torch
from torch import nn

from adaspike.convert import ConvertedSNN, UnsupportedOperationError, convert, evaluate_snn
from adaspike.models.ann import build_ann


def _randomise_bn(model: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.3, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


@pytest.mark.parametrize("arch", ["vgg", "resnet"])
def test_bn_folding_keeps_the_ann_function(arch):
    ann = _randomise_bn(build_ann(arch, widths=(8, 8, "M") if arch == "vgg" else (4, 8), **(
        {"hidden": 16} if arch == "vgg" else {})))
    snn = ConvertedSNN(ann)
    names = [type(m).__name__ for m in snn.graph_module.modules()]
    assert "BatchNorm2d" not in names and "BatchNorm1d" not in names and "Dropout" not in names
    x = torch.rand(5, 1, 28, 28)
    folded, _ = snn.ann_forward(x)
    assert torch.allclose(folded, ann(x), atol=1e-5)


def test_resnet_residual_enters_membrane_and_shortcut_conv_is_hidden():
    snn = ConvertedSNN(build_ann("resnet", widths=(4, 8)).eval())
    # stem + 2 blocks × 2 ReLUs = 5 neurons; the downsample conv is a hidden (spiking-input) synapse
    assert len(snn.neurons) == 5
    kinds = {s.name: s.kind for s in snn.synapses}
    assert kinds["stem.0"] == "first" and kinds["fc"] == "readout"
    assert kinds["stages.1.shortcut.0"] == "hidden"


class _Sigmoidal(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return torch.sigmoid(self.fc(x))


class _BadModule(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.act = nn.Linear(4, 4), nn.GELU()

    def forward(self, x):
        return self.act(self.fc(x))


def test_unsupported_operation_names_op_and_node():
    with pytest.raises(UnsupportedOperationError, match=r"sigmoid.*node 'sigmoid'"):
        ConvertedSNN(_Sigmoidal())
    with pytest.raises(UnsupportedOperationError, match=r"GELU.*node 'act'"):
        ConvertedSNN(_BadModule())
    with pytest.raises(UnsupportedOperationError, match=r"multiplies.*two activations"):
        ConvertedSNN(_Gated())


class _Gated(nn.Module):
    """A squeeze-excitation-like gate: the product of two activations."""

    def __init__(self):
        super().__init__()
        self.fc, self.gate = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x):
        h = torch.relu(self.fc(x))
        return h * torch.relu(self.gate(x))


def test_batchnorm_after_an_activation_stays_an_affine_map():
    """BN that follows no Conv/Linear (DenseNet's pre-activation BN) is kept per step: exact in rate."""
    ann = _randomise_bn(nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3)))
    snn = ConvertedSNN(ann)
    assert len(snn.neurons) == 2 and any(isinstance(m, nn.BatchNorm1d) for m in snn.graph_module.modules())
    x = torch.rand(5, 4)
    assert torch.allclose(snn.ann_forward(x)[0], ann(x), atol=1e-6)


def test_maxpool_warns():
    # a hidden max-pool: one right after the first layer (analog input) is exact and does not warn
    ann = build_ann("vgg", widths=(4, 4, "M"), hidden=8, pool="max").eval()
    with pytest.warns(UserWarning, match="max-pool"):
        convert(ann, torch.rand(16, 1, 28, 28), T=2, adafire=False, bias_correct=False, threshold_batches=1)


def test_small_conversion_approaches_the_ann_and_burst_helps_at_low_T():
    torch.manual_seed(0)
    ann = _randomise_bn(build_ann("vgg", widths=(6, "M", 8, "M"), hidden=16))
    x = torch.rand(96, 1, 28, 28)
    ann_pred = ann(x).argmax(1)
    data = (x[:64], ann_pred[:64])
    test = [(x[64:], ann_pred[64:])]
    base, _ = convert(ann, data, T=2, adafire=False, threshold_batches=2, batch_size=32)
    fire, report = convert(ann, data, T=2, adafire=True, gammas=(1, 2, 4), threshold_batches=2, batch_size=32)
    agree_base = evaluate_snn(base, test)["accuracy"]
    agree_fire = evaluate_snn(fire, test)["accuracy"]
    assert len(report.gammas) == len(fire.neurons) and set(report.gammas) <= {1, 2, 4}
    assert agree_fire >= agree_base
    assert agree_fire >= 0.8


def test_cli_parses_convert_and_train_ann():
    from adaspike.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["convert", "--ann", "x.safetensors", "--time-steps", "1,2,4", "--adafire", "--iat"])
    from adaspike.cli.convert import _methods
    assert args.T == [1, 2, 4] and _methods(args) == ("baseline", "+adafire", "+ssc", "+iat")
    assert args.gamma_target is None and args.budget == "accuracy" and args.spike_budget == 1.0
    assert args.alpha is None and args.iat_tolerance == 0.3
    args = parser.parse_args(["convert", "--model", "pkg.mod:make", "--weights", "w.pt", "--dataset", "folder",
                              "--limit", "50", "--test-limit", "20", "-o", "out"])
    assert args.model == "pkg.mod:make" and args.limit == 50 and args.test_limit == 20 and args.dataset == "folder"
    args = parser.parse_args(["train-ann", "--arch", "resnet", "--epochs", "1", "--limit", "10"])
    assert args.arch == "resnet" and args.epochs == 1 and args.limit == 10
    with pytest.raises(SystemExit):
        parser.parse_args(["train-ann", "--arch", "vgg", "--limit-train", "10"])
    for action in parser._subparsers._group_actions[0].choices["convert"]._actions:
        assert action.help, f"option {action.option_strings} has no help text"


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_batchnorm_in_every_form_folds_and_converts(affine, bias):
    """Conv → BatchNorm2d(affine=False or not) → ReLU, with and without a conv bias: one fold (the float64 one
    retime uses too) and a converted net that agrees with the ANN at a large T."""
    import torch
    from torch import nn

    from adaspike.convert import convert
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=bias), nn.BatchNorm2d(4, affine=affine), nn.ReLU(),
                        nn.Flatten(), nn.Linear(4 * 8 * 8, 3)).eval()
    with torch.no_grad():
        net[1].running_mean.uniform_(-0.3, 0.3)
        net[1].running_var.uniform_(0.5, 2.0)
    x = torch.rand(64, 1, 8, 8)
    snn, _ = convert(net, x, T=64, adafire=False)
    with torch.no_grad():
        agree = (snn(x).argmax(-1) == net(x).argmax(-1)).float().mean()
    assert agree >= 0.9


def test_batchnorm_without_running_statistics_is_refused_clearly():
    """track_running_stats=False normalises by batch statistics: no fold, no affine map; the error says so."""
    from adaspike.layers.norm import fold_batchnorm_into

    ann = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4, track_running_stats=False), nn.ReLU(),
                        nn.Flatten(), nn.Linear(4 * 26 * 26, 10)).eval()
    with pytest.raises(UnsupportedOperationError, match="track_running_stats=False"):
        convert(ann, torch.rand(4, 1, 28, 28), T=2)
    with pytest.raises(ValueError, match="track_running_stats=False"):
        fold_batchnorm_into(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4, track_running_stats=False))
