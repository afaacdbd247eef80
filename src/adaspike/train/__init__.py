"""Training: Trainer, checkpoints (safetensors + JSON), metrics."""
from .checkpoint import CheckpointError, load_model, read_checkpoint, save_checkpoint
from .metrics import SpikeRateMonitor, accuracy
from .trainer import Trainer, cosine_with_warmup, evaluate

__all__ = ["CheckpointError", "SpikeRateMonitor", "Trainer", "accuracy", "cosine_with_warmup", "evaluate",
           "load_model", "read_checkpoint", "save_checkpoint"]
