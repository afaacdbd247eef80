"""The SNNModel protocol: what retime, export and metrics may ask of a model, read in one place."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from adaspike.layers import SoftmaxSum, TimeReduce
from adaspike.layers.model_protocol import SNNModel, analog_modules, input_kind, module_sequence
from adaspike.models.conv_snn import ConvSNN
from adaspike.models.snn import SpikingMLP


def test_the_event_models_declare_the_protocol():
    assert isinstance(SpikingMLP(6, [5], 3, neuron="lif"), SNNModel)
    assert isinstance(ConvSNN((2, 8, 8), 3, channels=(2, 2), hidden=()), SNNModel)
    assert not isinstance(nn.Sequential(nn.Linear(2, 2)), SNNModel)


def test_defaults_and_checks():
    plain = nn.Sequential(nn.Linear(2, 2))
    assert input_kind(plain) == "counts" and analog_modules(plain) == frozenset()
    assert module_sequence(plain) is None
    plain.input_kind = "pixels"
    with pytest.raises(ValueError, match="input_kind"):
        input_kind(plain)


@pytest.mark.parametrize("readout, reduction", [("li-mean", "mean"), ("li-max", "max"), ("mean", "mean"),
                                                ("sum", "sum")])
def test_the_readout_reduction_is_a_module_that_computes_the_same(readout, reduction):
    torch.manual_seed(0)
    model = SpikingMLP(6, [5], 3, neuron="lif", recurrent=False, readout=readout).eval()
    assert isinstance(model.reduce, TimeReduce) and model.reduce.mode == reduction
    assert model.readout_mode == readout
    x = (torch.rand(7, 2, 6) < 0.3).float()
    with torch.no_grad():
        trace = model.readout(model.head(model.hidden[0](x)))
        expected = getattr(trace, reduction)(0)
        expected = expected.values if reduction == "max" else expected
        torch.testing.assert_close(model(x), expected)
    names = [name for name, _ in module_sequence(model)]
    assert names == ["flatten", "hidden.0", "head", "readout", "reduce"]


def test_softmax_readout_is_a_module_without_nir_form():
    model = SpikingMLP(6, [5], 3, neuron="lif", readout="li-softmax")
    assert isinstance(model.reduce, SoftmaxSum) and model.reduce.log
    with pytest.raises(ValueError, match="no NIR form"):
        module_sequence(model)


def test_retime_mean_readout_rewrites_the_sum_module():
    from adaspike.retime.readout import normalise_readout

    model = SpikingMLP(6, [5], 3, neuron="lif", readout="sum")
    changed = normalise_readout(model, 0.5, "mean")
    assert model.reduce.mode == "mean" and len(changed) == 1
