"""Model zoo: every builder is registered by name so checkpoints can rebuild it."""
from .registry import build_model, register_model, registered_models

__all__ = ["build_model", "register_model", "registered_models"]
