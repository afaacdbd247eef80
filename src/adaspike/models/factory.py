"""User models named ``package.module:factory`` (``adaspike train --model pkg.module:factory``).

The factory is called with the keyword arguments it accepts among the run's ``input_shape`` (per-step shape),
``classes`` and ``dt`` (seconds), plus any model options the user gave, and must return an ``nn.Module`` over
time-major inputs. The model records ``{"name": "factory", "kwargs": {"factory": spec, ...}}``, so a checkpoint
names its factory. Loading such a checkpoint imports and calls code named by a file, so the registered builder
``"factory"`` refuses unless the user trusts that spec through ``ADASPIKE_TRUSTED_FACTORIES`` (comma-separated
specs); a model registered with ``register_model`` or the ``adaspike.models`` entry point needs no such step.
"""
from __future__ import annotations

import importlib
import inspect
import os
import sys
from pathlib import Path
from typing import Callable

from torch import nn

from .registry import register_model

__all__ = ["TRUST_VARIABLE", "build_factory_model", "import_factory", "is_factory_spec"]

TRUST_VARIABLE = "ADASPIKE_TRUSTED_FACTORIES"


def is_factory_spec(name: str) -> bool:
    """True for ``package.module:factory`` (a registered model name has no colon)."""
    return ":" in name


def import_factory(spec: str) -> Callable[..., nn.Module]:
    """The callable named by ``package.module:factory``; the current folder is searched after installed packages."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute or not all(p.isidentifier() for p in module_name.split(".")):
        raise ValueError(f"a user model must look like 'package.module:factory', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        top = module_name.split(".")[0]
        cwd = str(Path.cwd())
        if err.name != top or cwd in sys.path or not _in_folder(top, Path.cwd()):
            raise ValueError(f"cannot import {module_name!r} for --model {spec}: {err}. Install the package, or run "
                             f"from the folder that holds {top}.py (or {top}/), or add that folder to PYTHONPATH") from None
        sys.path.append(cwd)  # after installed packages: a local file never shadows one
        module = importlib.import_module(module_name)
    factory = module
    for part in attribute.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise ValueError(f"{module_name} has no attribute {attribute!r} (from --model {spec})")
    if not callable(factory):
        raise ValueError(f"{spec} is not callable (a function or class that returns an nn.Module)")
    return factory


def _in_folder(top: str, folder: Path) -> bool:
    return (folder / f"{top}.py").is_file() or (folder / top / "__init__.py").is_file()


def build_factory_model(spec: str, **kwargs) -> nn.Module:
    """Call the factory with the keyword arguments it accepts; ``model.config`` records the spec and all of them."""
    factory = import_factory(spec)
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # builtins without a signature: call with nothing
        parameters = {}
    takes_all = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    call = {k: v for k, v in kwargs.items() if takes_all or k in parameters}
    model = factory(**call)
    if not isinstance(model, nn.Module):
        raise TypeError(f"{spec}(...) returned {type(model).__name__}, not a torch.nn.Module")
    model.config = {"name": "factory", "kwargs": {"factory": spec, **kwargs}}
    return model


@register_model("factory")
def factory_from_checkpoint(factory: str, **kwargs) -> nn.Module:
    """Rebuild a user model named by a checkpoint, if the user trusts its factory (``ADASPIKE_TRUSTED_FACTORIES``)."""
    trusted = {s.strip() for s in os.environ.get(TRUST_VARIABLE, "").split(",") if s.strip()}
    if factory not in trusted:
        raise PermissionError(f"this checkpoint was trained with the user model {factory!r}; adaspike does not "
                              f"import code named by a file on its own. If you trust it, run with "
                              f"{TRUST_VARIABLE}={factory} (or register the model with "
                              "adaspike.models.register_model / the adaspike.models entry point)")
    return build_factory_model(factory, **kwargs)
