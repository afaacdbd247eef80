"""The one-pass statistics kernel against the torch reference (equivalence), and its cache."""
import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from adaspike.metrics.stats import (BLOCK_ROWS, COLUMN_TILE, StatsCache, column_stats, membrane_changes,
                                    torch_column_stats, torch_membrane_changes)
from adaspike.metrics import stats as stats_module

pytestmark = pytest.mark.skipif(stats_module._kernels() is None, reason="numba not installed")

KINDS = ("binary", "counts", "signed counts", "analog", "large counts", "nan", "inf")


def _tensor(kind: str, rows: int, columns: int, density: float, seed: int, dtype) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(rows, columns, generator=g) < density
    if kind == "binary":
        x = mask.to(dtype)
    elif kind == "counts":
        x = torch.randint(0, 6, (rows, columns), generator=g).to(dtype) * mask
    elif kind == "signed counts":
        x = torch.randint(-3, 4, (rows, columns), generator=g).to(dtype) * mask
    elif kind == "large counts":  # past the float32 block-sum exactness bound: must fall back, still exact
        x = torch.randint(0, 2 ** 20, (rows, columns), generator=g).to(dtype) * mask
    else:
        x = torch.randn(rows, columns, generator=g, dtype=torch.float64).to(dtype) * mask
    if kind in ("nan", "inf") and x.numel():
        x.view(-1)[int(torch.randint(0, x.numel(), (1,), generator=g))] = math.nan if kind == "nan" else -math.inf
    return x


def _assert_same(fast, ref, exact: bool):
    assert fast.rows == ref.rows
    assert fast.integer == ref.integer
    assert fast.binary == ref.binary
    if math.isfinite(ref.max_abs):
        assert fast.max_abs == pytest.approx(ref.max_abs, rel=1e-6)
    if exact:
        assert torch.equal(fast.abs_sum, ref.abs_sum)
    else:
        torch.testing.assert_close(fast.abs_sum, ref.abs_sum, rtol=1e-5, atol=1e-4, equal_nan=True)
    assert torch.equal(fast.nonzero, ref.nonzero)


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(KINDS), rows=st.integers(1, 2 * BLOCK_ROWS + 3),
       columns=st.integers(1, COLUMN_TILE + 40), density=st.floats(0, 1), seed=st.integers(0, 2 ** 16),
       double=st.booleans(), transpose=st.booleans())
def test_kernel_equals_torch_reference(kind, rows, columns, density, seed, double, transpose):
    dtype = torch.float64 if double else torch.float32
    x = _tensor(kind, rows, columns, density, seed, dtype)
    if transpose:  # a strided (non-contiguous) view
        x = _tensor(kind, columns, rows, density, seed, dtype).t()
    fast, ref = column_stats(x), torch_column_stats(x)
    _assert_same(fast, ref, exact=kind not in ("analog", "nan", "inf"))


def test_integer_types_and_empty_go_to_the_reference():
    x = torch.tensor([[0, 2], [1, 0]], dtype=torch.int64)
    s = column_stats(x)
    assert s.integer and not s.binary and s.abs_sum.tolist() == [1.0, 2.0] and s.nonzero.tolist() == [1.0, 1.0]
    empty = column_stats(torch.zeros(0, 3))
    assert empty.rows == 0 and empty.nonzero.tolist() == [0.0, 0.0, 0.0]


@settings(max_examples=40, deadline=None)
@given(steps=st.integers(1, 6), batch=st.integers(1, 4), features=st.integers(1, 30), size=st.integers(1, 3),
       seed=st.integers(0, 2 ** 16), hold=st.floats(0, 1), double=st.booleans())
def test_membrane_changes_equal_torch_reference(steps, batch, features, size, seed, hold, double):
    g = torch.Generator().manual_seed(seed)
    states = torch.randn(steps, batch, features, size, generator=g, dtype=torch.float64 if double else torch.float32)
    for t in range(1, steps):  # hold some neurons' membranes so that "unchanged" happens
        keep = torch.rand(batch, features, generator=g) < hold
        states[t, ..., 0][keep] = states[t - 1, ..., 0][keep]
    for index in range(size):
        assert membrane_changes(states, index) == torch_membrane_changes(states, index)


def test_cache_reuses_views_folds_columns_and_notices_in_place_writes(monkeypatch):
    calls = []
    real = stats_module.column_stats
    monkeypatch.setattr(stats_module, "column_stats", lambda x: calls.append(1) or real(x))
    cache = StatsCache()
    spikes = torch.poisson(torch.full((5, 3, 8), 0.7))
    first = cache.get(spikes, 24)
    assert cache.get(spikes.reshape(15, 8), 24) is first and len(calls) == 1    # a view of the same data
    for columns in (8, 4, 2):                                                   # folded from the 24 columns
        folded = cache.get(spikes, columns)
        ref = torch_column_stats(spikes.reshape(-1, columns))
        assert len(calls) == 1 and folded.rows == ref.rows
        assert torch.equal(folded.abs_sum, ref.abs_sum) and torch.equal(folded.nonzero, ref.nonzero)
    cache.get(spikes, 5)                                                        # 24 is no multiple of 5
    assert len(calls) == 2
    spikes.reshape(15, 8).add_(1)                                               # in place, through a view
    again = cache.get(spikes, 24)
    assert len(calls) == 3 and again.abs_sum.sum() == first.abs_sum.sum() + 120
    assert cache.find(spikes.transpose(0, 1), 24) is None                                 # strided views are not keyed
    cache.clear()
    assert cache.find(spikes, 24) is None
