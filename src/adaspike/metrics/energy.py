"""The energy model: picojoules per multiply-accumulate (MAC) and per accumulate (AC).

A synapse fed with analog values multiplies (a MAC); one fed with spikes only adds its weight (an AC), and a
burst of k spikes in one step adds it k times (k ACs, never one MAC). The default costs are the 45 nm figures
used across the SNN literature (Horowitz 2014): 4.6 pJ per 32-bit float MAC, 0.9 pJ per AC.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

E_MAC_PJ = 4.6
E_AC_PJ = 0.9


@dataclass(frozen=True)
class EnergyModel:
    """Energy per operation in pJ; ``energy_pj(macs, acs)`` works on numbers and tensors alike."""

    mac_pj: float = E_MAC_PJ
    ac_pj: float = E_AC_PJ

    def __post_init__(self):
        for name in ("mac_pj", "ac_pj"):
            value = float(getattr(self, name))
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number of pJ >= 0, got {getattr(self, name)!r}")

    def energy_pj(self, macs=0.0, acs=0.0):
        return self.mac_pj * macs + self.ac_pj * acs

    def as_dict(self) -> dict:
        return asdict(self)


DEFAULT_ENERGY = EnergyModel()


def nominal_macs(module: nn.Module, out: torch.Tensor) -> int:
    """The textbook MAC count of one sample: conv C_in·C_out·k_h·k_w·H_out·W_out (padding, groups ignored),
    linear in·out. (The workload metrics count exactly instead, padding and zero weights included.)"""
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return module.in_channels * module.out_channels * kh * kw * out.shape[-2] * out.shape[-1]
    if isinstance(module, nn.Linear):
        return module.in_features * module.out_features
    raise TypeError(f"no FLOP rule for {type(module).__name__}")


__all__ = ["DEFAULT_ENERGY", "E_AC_PJ", "E_MAC_PJ", "EnergyModel", "nominal_macs"]
