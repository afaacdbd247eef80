"""Input dtypes: integer counts, float64 into float32 layers, recurrent weights follow the input."""
import torch

from adaspike.core import available_backends, scan
from adaspike.core.neurons import lif_discrete
from adaspike.layers import LIF


def test_integer_counts_behave_like_float_counts():
    layer = LIF(4, dt=1e-3, tau=5e-3)
    counts = torch.ones(6, 2, 4, dtype=torch.long) * 3
    assert torch.equal(layer(counts), layer(counts.float()))
    assert layer(counts).sum() > 0
    assert torch.equal(layer(counts.bool()), layer(counts.bool().float()))


def test_float64_input_with_float32_recurrent_weight():
    x = torch.rand(10, 2, 4, dtype=torch.float64) * 3
    out = scan(x, lif_discrete(torch.full((4,), 0.8)), recurrent_weight=torch.randn(4, 4))
    assert out.spikes.dtype == torch.float64


def test_available_backends_lists_fast_ones_before_any_scan():
    assert "numba" in available_backends()


def test_empty_time_axis_is_a_clear_error():
    import pytest
    with pytest.raises(ValueError, match="T = 0"):
        LIF(3)(torch.zeros(0, 2, 3))
