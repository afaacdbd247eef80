"""One pass over a tensor for everything the workload hooks need: its range, whether it holds integers, and
the column sums of |x| and of the non-zero indicator.

A connection's operation counts are linear in its input (Σ_rows x·fan_out for a Linear, one convolution of the
batch-summed map for a Conv), so column sums over the leading rows are all it needs. The hooks used to make six
or so passes over the input (min/max, an integer test, |x|, an indicator, two products), each with its own
temporary; on event inputs that cost more than the layer itself. The numba kernel reads x once and allocates
nothing of x's size; the torch version is the reference (and the path without numba), and tests hold them equal.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch


@dataclass(frozen=True)
class ColumnStats:
    """Statistics of x viewed as [rows, columns]; sums are float64 (exact for integer data below 2⁵³)."""

    rows: int
    integer: bool                 # every value a (finite) integer
    max_abs: float
    abs_sum: torch.Tensor         # [columns] Σ_rows |x|
    nonzero: torch.Tensor         # [columns] Σ_rows (x ≠ 0)

    @property
    def binary(self) -> bool:
        """Every value in {0, ±1} (NeuroBench's test for accumulate-only operations)."""
        return self.integer and self.max_abs <= 1

    @property
    def magnitude(self) -> float:
        """Σ |x| (for spike counts: the number of spikes)."""
        return float(self.abs_sum.sum())

    @property
    def nonzero_count(self) -> int:
        return int(self.nonzero.sum())


def torch_column_stats(x2d: torch.Tensor) -> ColumnStats:
    """The reference: plain torch reductions (several passes)."""
    x = x2d if x2d.is_floating_point() else x2d.to(torch.float64)
    if x.numel() == 0:
        zeros = torch.zeros(x.shape[1], dtype=torch.float64)
        return ColumnStats(x.shape[0], True, 0.0, zeros, zeros.clone())
    magnitude = x.abs()
    max_abs = float(magnitude.max())
    integer = math.isfinite(max_abs) and not bool(torch.frac(x).any())
    return ColumnStats(int(x.shape[0]), integer, max_abs, magnitude.sum(0, dtype=torch.float64).cpu(),
                       (x != 0).sum(0, dtype=torch.float64).cpu())


BLOCK_ROWS = 256   # rows summed in x's own dtype before a float64 flush: exact for integers below 2**24 / 256
COLUMN_TILE = 1024


@lru_cache(maxsize=1)
def _kernels():
    """The numba kernels, compiled on first use; None when numba is not installed."""
    try:
        import numba
    except ImportError:
        return None

    # every accumulator is per column, so the inner loop over the contiguous columns vectorises (scalar
    # reductions there would serialise it: 5x slower); columns go in tiles whose accumulators stay in L1 (wide
    # conv maps would otherwise stream them once per row); blocks of rows accumulate in x's dtype, then flush
    # to float64. NaN/Inf make the fraction sum NaN, which says "not integers".
    @numba.njit(cache=True, nogil=True, fastmath={"reassoc", "nsz", "contract"})
    def column_stats(x, abs_sum, nonzero, block, tile):
        rows, columns = x.shape
        block_abs = np.zeros(tile, x.dtype)
        block_nonzero = np.zeros(tile, x.dtype)
        fraction = np.zeros(tile, x.dtype)             # Σ |x − trunc(x)|: 0 iff every value is an integer
        max_abs = np.zeros(tile, x.dtype)
        for first in range(0, columns, tile):
            width = min(tile, columns - first)
            for start in range(0, rows, block):
                for r in range(start, min(rows, start + block)):
                    row = x[r, first:first + width]
                    for j in range(width):
                        v = row[j]
                        a = np.abs(v)
                        block_abs[j] += a
                        block_nonzero[j] += 1.0 if v != 0 else 0.0
                        fraction[j] += np.abs(v - np.trunc(v))
                        max_abs[j] = a if a > max_abs[j] else max_abs[j]
                for j in range(width):
                    abs_sum[first + j] += block_abs[j]
                    nonzero[first + j] += block_nonzero[j]
                    block_abs[j] = 0
                    block_nonzero[j] = 0
        return fraction.sum(), max_abs.max()

    @numba.njit(cache=True, nogil=True)
    def changes(membrane):
        steps, neurons = membrane.shape
        changed = 0
        for t in range(1, steps):
            for m in range(neurons):
                changed += membrane[t, m] != membrane[t - 1, m]
        return changed

    return column_stats, changes


def column_stats(x2d: torch.Tensor) -> ColumnStats:
    """Statistics of a 2-D tensor [rows, columns]: one numba pass for float CPU tensors, torch reductions
    otherwise."""
    kernels = _kernels()
    if (kernels is None or x2d.device.type != "cpu" or x2d.dtype not in (torch.float32, torch.float64)
            or x2d.dim() != 2 or x2d.numel() == 0):
        return torch_column_stats(x2d.detach())
    x = x2d.detach().numpy()
    abs_sum = torch.zeros(x.shape[1], dtype=torch.float64)
    nonzero = torch.zeros(x.shape[1], dtype=torch.float64)
    fraction, max_abs = kernels[0](x, abs_sum.numpy(), nonzero.numpy(), BLOCK_ROWS, COLUMN_TILE)
    integer = math.isfinite(fraction) and fraction == 0 and math.isfinite(max_abs)
    if integer and x.dtype == np.float32 and max_abs * BLOCK_ROWS >= 2 ** 24:  # a block sum may have rounded
        return torch_column_stats(x2d.detach())
    return ColumnStats(int(x.shape[0]), integer, float(max_abs), abs_sum, nonzero)


def torch_membrane_changes(states: torch.Tensor, index: int) -> int:
    """The reference for ``membrane_changes``."""
    membrane = states[..., index]
    return int(torch.count_nonzero(membrane[1:] != membrane[:-1])) if membrane.shape[0] > 1 else 0


def membrane_changes(states: torch.Tensor, index: int) -> int:
    """How many (step ≥ 1, neuron) pairs of a state trace [T, B, *F, n] changed component ``index`` since the
    step before (NeuroBench's membrane updates after the first step); one pass, no temporaries."""
    kernels = _kernels()
    states = states.detach()
    if (kernels is None or states.device.type != "cpu" or states.dtype not in (torch.float32, torch.float64)
            or states.dim() < 3 or states.shape[0] < 2):
        return torch_membrane_changes(states, index)
    membrane = states[..., index].reshape(states.shape[0], -1)   # a strided view for [T, B, *F, n] traces
    return int(kernels[1](membrane.numpy()))


class StatsCache:
    """Statistics of the tensors seen since the last ``clear()``: a neuron layer's spikes are measured once
    though the next connection's hook (and a recurrent hook) read them too, often through a reshaped view.
    Entries are keyed by the data they cover (address, size, columns) and keep their tensor alive, so a key
    cannot match a new tensor at a reused address; views share the version counter, so an in-place write
    through any of them is noticed. The collector clears the cache per batch, and only the latest ``size``
    entries are kept (a layer's output is read by the very next hooks)."""

    def __init__(self, size: int = 8):
        self.size = size
        self._entries: list[tuple[tuple, torch.Tensor, int, ColumnStats]] = []

    @staticmethod
    def _key(x: torch.Tensor) -> tuple | None:
        return (x.device, x.dtype, x.data_ptr(), x.numel()) if x.is_contiguous() else None

    def find(self, x: torch.Tensor, columns: int) -> ColumnStats | None:
        """Cached statistics of x's data with ``columns`` columns, folded from an entry with a multiple of
        them (a flat index c·columns + j lands in column j: summing the groups is exact on float64 sums)."""
        key = self._key(x)
        if key is None:
            return None
        for k, tensor, version, stats in reversed(self._entries):
            wide = stats.abs_sum.numel()
            if k == key and tensor._version == version and wide % columns == 0:
                if wide == columns:
                    return stats
                return ColumnStats(stats.rows * (wide // columns), stats.integer, stats.max_abs,
                                   stats.abs_sum.reshape(-1, columns).sum(0), stats.nonzero.reshape(-1, columns).sum(0))
        return None

    def put(self, x: torch.Tensor, columns: int, stats: ColumnStats) -> ColumnStats:
        """Remember ``stats`` for x's data; returns them."""
        key = self._key(x)
        if key is not None and self.size > 0:
            self._entries = [*self._entries[-(self.size - 1):], (key, x, x._version, stats)]
        return stats

    def get(self, x: torch.Tensor, columns: int) -> ColumnStats:
        found = self.find(x, columns)
        if found is not None:
            return found
        return self.put(x, columns, column_stats(x.detach().reshape(-1, columns)))

    def clear(self) -> None:
        self._entries.clear()


__all__ = ["ColumnStats", "StatsCache", "column_stats", "membrane_changes", "torch_column_stats",
           "torch_membrane_changes"]
