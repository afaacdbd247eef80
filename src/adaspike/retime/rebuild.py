"""Rebuilding retimed checkpoints: a retimed model's ``config`` names the builder ``"retimed"``.

Its kwargs hold the source model's config and the retime options; the builder rebuilds the source model and
replays ``retime`` with ``structure_only=True`` (module types, dt, BatchNorm folds, readout hooks), after which
``load_model`` loads the retimed values from the file.
"""
from __future__ import annotations

from torch import nn

from ..models import build_model, register_model
from .model import retime


@register_model("retimed")
def retimed(source: dict, ratio: float, method: str, input_scale="auto", readout: str = "auto",
            spike_rule: str = "steps") -> nn.Module:
    # spike_rule defaults to "steps": files written before spike-rule retiming existed ran the plain rule
    if not isinstance(source, dict) or "name" not in source:
        raise ValueError(f"a retimed checkpoint needs its source model description, got {source!r}")
    base = build_model(source["name"], **source.get("kwargs", {}))
    return retime(base, ratio=ratio, method=method, input_scale=input_scale, readout=readout,
                  spike_rule=spike_rule, structure_only=True)
