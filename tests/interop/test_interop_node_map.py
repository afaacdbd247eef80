"""The one NIR node map (issue 30): both exporters take every module's node from it, a registered type reaches both,
an unmapped type is refused by name, and the same layer becomes the same node in either exporter."""
from __future__ import annotations

import nir
import numpy as np
import pytest
import torch
from torch import nn

from adaspike.convert import UnsupportedOperationError, convert, converted_to_nir
from adaspike.interop import MODULE_NODES, NodeContext, export_nir, neuron_node, register_nir_node
from adaspike.interop.node_map import UnmappedModule, build_nir_node, nir_node_builder
from adaspike.layers import LIF, LeakyIntegrator, SpikingLayer, TimeFolded


class Gain(nn.Module):
    """A per-feature constant gain: a type no exporter knows until a test registers it."""

    def __init__(self, n: int):
        super().__init__()
        self.register_buffer("factor", torch.linspace(0.5, 2.0, n))

    def forward(self, x):
        return x * self.factor


class Mystery(nn.Module):
    def forward(self, x):
        return x


def _gain_node(module: Gain, ctx: NodeContext) -> nir.Scale:
    return nir.Scale(scale=ctx.array(module.factor))


@pytest.fixture
def gain_registered():
    register_nir_node(Gain)(_gain_node)
    try:
        yield
    finally:
        del MODULE_NODES[f"{Gain.__module__}.{Gain.__qualname__}"]


def _converted(ann: nn.Module, x: torch.Tensor, **kw):
    snn, _ = convert(ann.eval(), x, T=2, adafire=False, threshold_batches=1, **kw)
    return snn


def _mlp_with(module: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 6), nn.ReLU(), module, nn.Linear(6, 3))


def test_a_registered_type_reaches_both_exporters(gain_registered):
    gain = Gain(6)
    trained = nn.Sequential(SpikingLayer(nn.Linear(5, 6), LIF(6, dt=1e-3)), TimeFolded(gain),
                            TimeFolded(nn.Linear(6, 3)), LeakyIntegrator(3, dt=1e-3))
    graph = export_nir(trained, (5,))
    scales = [name for name, node in graph.nodes.items() if isinstance(node, nir.Scale)]
    assert len(scales) == 1 and ("1", "2") in graph.edges and ("0_neuron", "1") in graph.edges
    np.testing.assert_array_equal(graph.nodes[scales[0]].scale, gain.factor.numpy())

    x = torch.rand(16, 5)
    snn = _converted(_mlp_with(Gain(6)), x, leaf_modules=(Gain,))
    converted = converted_to_nir(snn, x[:2])
    scales = [node for node in converted.nodes.values() if isinstance(node, nir.Scale)]
    assert len(scales) == 1 and scales[0].scale.dtype == np.float64      # the converter's own precision
    np.testing.assert_array_equal(scales[0].scale, gain.factor.double().numpy())


def test_an_unmapped_type_is_refused_by_name_in_both_exporters():
    with pytest.raises(UnmappedModule, match="no NIR node for Mystery.*register_nir_node"):
        nir_node_builder(Mystery())
    with pytest.raises(ValueError, match=r"cannot export module '1' \(Mystery\) to NIR.*fold BatchNorm first"):
        export_nir(nn.Sequential(TimeFolded(nn.Linear(5, 6)), TimeFolded(Mystery())), (5,))
    with pytest.raises(ValueError, match="Mystery is not a neuron layer"):
        neuron_node(Mystery(), (3,))
    x = torch.rand(16, 5)
    snn = _converted(_mlp_with(Mystery()), x, leaf_modules=(Mystery,))
    with pytest.raises(UnsupportedOperationError, match="no NIR node for Mystery at"):
        converted_to_nir(snn, x[:2])


def test_a_subclass_uses_its_base_entry_and_a_taken_type_is_not_silently_replaced():
    class MyLinear(nn.Linear):
        pass

    assert nir_node_builder(MyLinear(2, 3)) is nir_node_builder(nn.Linear(2, 3))
    assert nir_node_builder(LIF(2)).neuron and not nir_node_builder(nn.Linear(2, 3)).neuron
    with pytest.raises(ValueError, match="already registered"):
        register_nir_node(nn.Linear)(_gain_node)
    assert nir_node_builder(nn.Linear(2, 3)).build is not _gain_node
    assert build_nir_node(nn.Dropout(), NodeContext((3,))) is None        # pass-through: no node


def _same_node(a: nir.NIRNode, b: nir.NIRNode, skip=()) -> None:
    """Same NIR type and the same values in every field (the dtypes are each exporter's precision)."""
    assert type(a) is type(b)
    for field in a.__dataclass_fields__:
        if field in ("metadata", *skip):
            continue
        x, y = getattr(a, field), getattr(b, field)
        if isinstance(x, dict):
            assert x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x), field
        else:
            assert np.array_equal(np.asarray(x), np.asarray(y)), field


def test_the_same_linear_and_conv2d_become_the_same_node_in_both_exporters():
    torch.manual_seed(0)
    conv, linear = nn.Conv2d(1, 3, 3, stride=2, padding=1), nn.Linear(3 * 4 * 4, 4)
    trained = nn.Sequential(TimeFolded(conv), TimeFolded(nn.Flatten()), TimeFolded(linear))
    ours = export_nir(trained, (1, 8, 8)).nodes
    ann = nn.Sequential(conv, nn.ReLU(), nn.Flatten(), linear)
    x = torch.rand(16, 1, 8, 8)
    nodes = converted_to_nir(_converted(ann, x), x[:2]).nodes
    theirs = {type(n).__name__: n for n in nodes.values()}
    assert [type(n).__name__ for n in ours.values()] == ["Input", "Conv2d", "Flatten", "Affine", "Output"]
    _same_node(ours["0"], theirs["Conv2d"], skip=("bias",))
    _same_node(ours["1"], theirs["Flatten"])
    _same_node(ours["2"], theirs["Affine"])     # the readout: no neuron offset folded into its bias
    # the conv's bias in the converted graph also carries the folded neuron offset: without it, the same bias
    offset = theirs["IF"].metadata["input_offset"][:, 0, 0]
    assert theirs["IF"].metadata["input_offset_folded"]
    np.testing.assert_allclose(theirs["Conv2d"].bias - offset, conv.bias.detach().double().numpy(), atol=1e-12)
    # one builder, two contexts: the exporters differ only in dtype and explicit zero biases
    bare = nn.Linear(4, 2, bias=False)
    assert isinstance(build_nir_node(bare, NodeContext((4,))), nir.Linear)
    affine = build_nir_node(bare, NodeContext((4,), dtype=np.float64, zero_bias=True))
    assert isinstance(affine, nir.Affine) and not affine.bias.any() and affine.weight.dtype == np.float64
