"""Every public layer checks its input at the boundary: a wrong layout or feature size is one clear ValueError
naming the layer and the expected size, never torch's matmul or broadcasting error from deep inside."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from adaspike import layers
from adaspike.layers import (LIF, AdLIF, CubaLIF, IF, LeakyIntegrator, RecurrentSpikingLayer, SSMNeuron, SpikingLayer,
                             TimeFolded, spiking_conv2d, spiking_linear)

F_IN, F_OUT = 6, 5


def _builders():
    """name -> (layer, a good input shape builder T, B -> shape, the feature part that must match)."""
    return {
        "LIF": (LIF(F_OUT), lambda T, B: (T, B, F_OUT)),
        "AdLIF": (AdLIF(F_OUT), lambda T, B: (T, B, F_OUT)),
        "CubaLIF": (CubaLIF(F_OUT), lambda T, B: (T, B, F_OUT)),
        "IF": (IF(F_OUT), lambda T, B: (T, B, F_OUT)),
        "SSMNeuron": (SSMNeuron.from_layer(LIF(F_OUT)), lambda T, B: (T, B, F_OUT)),
        "LeakyIntegrator": (LeakyIntegrator(F_OUT), lambda T, B: (T, B, F_OUT)),
        "SpikingLayer": (spiking_linear(F_IN, F_OUT, LIF(F_OUT)), lambda T, B: (T, B, F_IN)),
        "RecurrentSpikingLayer": (RecurrentSpikingLayer(F_IN, F_OUT, LIF(F_OUT)), lambda T, B: (T, B, F_IN)),
        "TimeFolded": (TimeFolded(torch.nn.Linear(F_IN, F_OUT)), lambda T, B: (T, B, F_IN)),
        "spiking_conv2d": (spiking_conv2d(2, 3, 3, LIF((3, 4, 4))), lambda T, B: (T, B, 2, 4, 4)),
        "TemporalBatchNorm": (layers.TemporalBatchNorm(3), lambda T, B: (T, B, 3, 4)),
    }


def test_the_checked_layers_cover_the_public_layer_classes():
    public = {name for name in layers.__all__ if isinstance(getattr(layers, name), type)
              and issubclass(getattr(layers, name), torch.nn.Module)}
    # base classes, mixins and readouts over any [T, B, ...] shape have no fixed input to check
    # time-step-adaptive layers are built for one T (they check it and their features: tests/encoding)
    unchecked = {"NeuronLayer", "FrozenSSM", "Bounded", "SoftmaxSum", "TimeReduce", "PerStepLIF", "StepWeightedReadout"}
    assert public - unchecked <= set(_builders()), public - unchecked - set(_builders())


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(_builders())), st.integers(1, 4), st.integers(1, 3), st.data())
def test_wrong_shapes_raise_one_clear_error(name, T, B, data):
    layer, good = _builders()[name]
    shape = list(good(T, B))
    # a trailing axis is legal where the layer takes any spatial shape (BatchNorm over channels)
    mutations = ["feature", "drop_time"] + ([] if name == "TemporalBatchNorm" else ["extra_axis"])
    wrong = data.draw(st.sampled_from(mutations), label="mutation")
    if wrong == "feature":
        axis = 2
        shape[axis] = shape[axis] + data.draw(st.integers(1, 4), label="extra features")
    elif wrong == "drop_time":
        shape = shape[1:]
    else:  # a trailing axis (a leading feature axis is legal: neuron parameters broadcast over it)
        shape = shape + [2]
    with pytest.raises(ValueError) as err:
        layer(torch.rand(*shape))
    message = str(err.value)
    assert "got shape" in message and str(tuple(shape)) in message
    assert "mat1" not in message and "size of tensor" not in message


@pytest.mark.parametrize("name", sorted(_builders()))
def test_good_shapes_run(name):
    layer, good = _builders()[name]
    out = layer(torch.rand(*good(3, 2)))
    assert out.shape[:2] == (3, 2)
