"""Model registry: builders by name, so a checkpoint's JSON metadata can rebuild its model."""
from __future__ import annotations

from typing import Callable

from torch import nn

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str):
    """Decorator: register ``builder(**kwargs) -> nn.Module``; built models get ``model.config``."""

    def wrap(builder):
        if name in _BUILDERS and _BUILDERS[name] is not builder:
            raise ValueError(f"model name {name!r} is already registered")
        _BUILDERS[name] = builder
        return builder

    return wrap


def build_model(name: str, **kwargs) -> nn.Module:
    _load_builtin_models()
    try:
        builder = _BUILDERS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; registered: {sorted(_BUILDERS)}") from None
    model = builder(**kwargs)
    model.config = {"name": name, "kwargs": kwargs}
    return model


def registered_models() -> list[str]:
    _load_builtin_models()
    return sorted(_BUILDERS)


def _load_builtin_models() -> None:
    # importing the model modules registers their builders; optional ones may still be in development
    import importlib

    for module in ("models.snn", "models.ann", "models.resnet", "models.spikformer", "models.lenet",
                   "interop.checkpoint", "retime.checkpoint"):
        importlib.import_module(f"adaspike.{module}")
