"""Training: Trainer, checkpoints (safetensors + JSON), metrics."""
from .checkpoint import CheckpointError, load_model, read_checkpoint, save_checkpoint
from .metrics import SpikeRateMonitor, accuracy
from .recipes import cosine_warmup_factor
from .trainer import Trainer, evaluate

__all__ = ["CheckpointError", "SpikeRateMonitor", "Trainer", "accuracy", "cosine_warmup_factor", "evaluate",
           "load_model", "read_checkpoint", "save_checkpoint"]
