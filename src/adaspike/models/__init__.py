"""Model zoo: every builder is registered by name so checkpoints can rebuild it."""
from importlib import import_module
from pkgutil import iter_modules

from .registry import ENTRY_POINT_GROUP, build_model, register_model, registered_models


def _import_the_zoo() -> None:
    """Import every module of this folder: a model module registers its builders when imported, so adding a
    model is adding its file."""
    for module in iter_modules(__path__):
        import_module(f"{__name__}.{module.name}")


_import_the_zoo()

__all__ = ["ENTRY_POINT_GROUP", "build_model", "register_model", "registered_models"]
