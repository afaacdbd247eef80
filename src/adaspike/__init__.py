"""adaspike: adaptive spiking neural networks on one continuous-time state-space core.

``adaspike.core`` and ``adaspike.layers`` (and ``scan``, ``parse_time``) load on first use, so that importing the
package (the command line's ``--help``, say) does not pay for torch.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"
__all__ = ["core", "layers", "parse_time", "scan", "__version__"]

_LAZY = {"core": ("adaspike.core", None), "layers": ("adaspike.layers", None),
         "parse_time": ("adaspike.core", "parse_time"), "scan": ("adaspike.core", "scan")}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'adaspike' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
