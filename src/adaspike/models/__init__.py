"""Model zoo: every builder is registered by name so checkpoints can rebuild it."""
from ..core.registry import import_package_modules
from .registry import ENTRY_POINT_GROUP, build_model, register_model, registered_models

import_package_modules(__name__)  # each model module registers its builders: adding a model is adding its file

__all__ = ["ENTRY_POINT_GROUP", "build_model", "register_model", "registered_models"]
