"""What the capabilities above the layers (retime, NIR export, metrics) may ask of a model: ``SNNModel``.

Every member is optional, and a capability reads it only through the functions here, with the default stated
once: no capability reads an undeclared attribute by string.

- ``input_kind``: ``"counts"`` (binned events: retime rescales their drive by 1/ρ) or ``"analog"`` (levels such
  as images: the first weight module's drive is left alone). Default ``"counts"``.
- ``retime_analog_modules``: qualified names of further weight modules that read levels, not counts.
- ``nir_modules()``: the model's modules in data-flow order, ``[(name, module), ...]``, for a model that is not
  an ``nn.Sequential``; the readout's time reduction is a module too (``TimeReduce``/``SoftmaxSum``).
"""
from __future__ import annotations

from typing import Iterable, Protocol, runtime_checkable

from torch import nn

INPUT_KINDS = ("counts", "analog")


@runtime_checkable
class SNNModel(Protocol):
    """A spiking model that declares what it reads and how it is laid out (see the module docstring)."""

    input_kind: str

    def nir_modules(self) -> Iterable[tuple[str, nn.Module]]: ...


def input_kind(model: nn.Module) -> str:
    """The model's declared input kind, ``"counts"`` unless it says otherwise."""
    kind = getattr(model, "input_kind", "counts")
    if kind not in INPUT_KINDS:
        raise ValueError(f"model.input_kind must be one of {INPUT_KINDS}, got {kind!r}")
    return kind


def analog_modules(model: nn.Module) -> frozenset[str]:
    """Qualified names of the weight modules the model declares as reading levels, not counts."""
    return frozenset(getattr(model, "retime_analog_modules", ()))


def module_sequence(model: nn.Module) -> list[tuple[str, nn.Module]] | None:
    """The model's modules in data-flow order (``nir_modules()``), None when it declares none."""
    declared = getattr(model, "nir_modules", None)
    return list(declared()) if callable(declared) else None


__all__ = ["INPUT_KINDS", "SNNModel", "analog_modules", "input_kind", "module_sequence"]
