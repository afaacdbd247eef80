"""Training: Trainer, checkpoints (safetensors + JSON), metrics.

Names load on first use (PEP 562): reading a checkpoint's metadata (``read_metadata``) needs no torch.
"""
from __future__ import annotations

import importlib

__all__ = ["CheckpointError", "SpikeRateMonitor", "Trainer", "accuracy", "cosine_warmup_factor", "evaluate",
           "load_model", "read_checkpoint", "read_metadata", "save_checkpoint"]

_HOMES = {"CheckpointError": "checkpoint", "load_model": "checkpoint", "read_checkpoint": "checkpoint",
          "read_metadata": "checkpoint", "save_checkpoint": "checkpoint", "SpikeRateMonitor": "metrics",
          "accuracy": "metrics", "cosine_warmup_factor": "recipes", "Trainer": "trainer", "evaluate": "trainer"}


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'adaspike.train' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
