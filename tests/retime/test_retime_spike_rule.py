"""Spike-rule retiming: a neuron keeps its spike capacity per second across resolutions."""
import pytest
import torch

from adaspike.layers import NeuronLayer
from adaspike.models import build_model
from adaspike.retime import retime
from adaspike.train import load_model, save_checkpoint


def _model():
    torch.manual_seed(0)
    return build_model("snn", input_shape=[12], classes=3, hidden=[16], neuron="lif", dt=4e-3, recurrent=True)


def _neurons(model):
    return [m for m in model.modules() if isinstance(m, NeuronLayer)]


@pytest.mark.parametrize("method", ["tau", "zoh", "euler", "bilinear"])
def test_seconds_rule_keeps_the_source_capacity(method):
    fine = retime(_model(), dt=1e-3, method=method)
    assert fine.retime_info.spike_rule == "seconds"
    for layer in _neurons(fine):
        assert layer.refractory == pytest.approx(4e-3)
        assert layer.spike_fn.refractory == 3
    coarse = retime(_model(), dt=8e-3, method=method)
    assert all(layer.spike_fn.max_spikes == 2 for layer in _neurons(coarse))


def test_steps_rule_and_none_leave_the_plain_rule():
    for model in (retime(_model(), dt=1e-3, method="zoh", spike_rule="steps"),
                  retime(_model(), dt=1e-3, method="none")):
        assert all(layer.refractory is None and layer.spike_fn.refractory == 0 for layer in _neurons(model))
    with pytest.raises(ValueError, match="spike_rule"):
        retime(_model(), dt=1e-3, spike_rule="per-step")


def test_retiming_twice_keeps_the_original_capacity():
    twice = retime(retime(_model(), dt=2e-3, method="zoh"), dt=1e-3, method="euler")
    assert all(layer.refractory == pytest.approx(4e-3) for layer in _neurons(twice))


def test_fine_rates_stay_near_the_source_rates_under_the_seconds_rule():
    model = _model()
    with torch.no_grad():
        model.hidden[0].synapse.module.weight.mul_(3)  # a busy layer, where bursts of the plain rule show
    counts = torch.poisson(torch.full((40, 8, 12), 1.5), generator=torch.Generator().manual_seed(0))
    fine_counts = torch.zeros(160, 8, 12)
    for k in range(4):  # split every count evenly into four 1 ms bins (exact nesting)
        fine_counts[k::4] = counts / 4
    def hidden_total(m, x):
        return float(m.hidden[0](x.flatten(2)).sum())
    source = hidden_total(model, counts)
    seconds = hidden_total(retime(model, dt=1e-3, method="zoh"), fine_counts)
    steps = hidden_total(retime(model, dt=1e-3, method="zoh", spike_rule="steps"), fine_counts)
    assert source > 0
    assert steps > 1.3 * source  # one spike per 1 ms step lets a 4 ms-trained layer fire far more
    assert abs(seconds / source - 1) < 0.5 * abs(steps / source - 1)


def test_checkpoint_round_trip_keeps_the_spike_rule(tmp_path):
    fine = retime(_model(), dt=2e-3, method="zoh")
    loaded = load_model(save_checkpoint(tmp_path / "fine.safetensors", fine))
    assert [m.refractory for m in _neurons(loaded)] == [m.refractory for m in _neurons(fine)]
    x = torch.poisson(torch.full((30, 2, 12), 1.0))
    assert torch.equal(loaded(x), fine(x))
