"""Model zoo: every builder is registered by name so checkpoints can rebuild it."""
from . import ann, conv_snn, factory, lenet, resnet, snn, spikformer  # noqa: F401 - importing a model module registers its builders
from .registry import ENTRY_POINT_GROUP, build_model, register_model, registered_models

__all__ = ["ENTRY_POINT_GROUP", "build_model", "register_model", "registered_models"]
