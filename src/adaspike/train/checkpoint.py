"""Checkpoints: one safetensors file holding tensors, with the JSON metadata embedded in its header.

safetensors never executes code, so loading an untrusted checkpoint is safe; anything else is refused.
Writes are atomic (temp file + os.replace).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..report.io import atomic_write_bytes

FORMAT = "adaspike-checkpoint-1"
_META_KEY = "adaspike"


class CheckpointError(ValueError):
    """A checkpoint file is missing, not a safetensors file, or does not match the model."""


def save_checkpoint(path, model: nn.Module, metadata: dict | None = None,
                    extra_tensors: dict[str, torch.Tensor] | None = None) -> Path:
    """Write ``model``'s state_dict (+ ``extra_tensors``) and metadata (incl. ``model.config``) atomically."""
    from safetensors.torch import save

    meta = {"format": FORMAT, **(metadata or {})}
    if getattr(model, "config", None) is not None:
        meta.setdefault("model", model.config)
    tensors = {f"model.{k}": v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    for key, value in (extra_tensors or {}).items():
        tensors[f"extra.{key}"] = value.detach().contiguous().cpu()
    blob = save(tensors, metadata={_META_KEY: json.dumps(meta, default=str)})
    return atomic_write_bytes(path, blob)


def read_checkpoint(path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, Any]]:
    """Return (model_state, extra_tensors, metadata) from a checkpoint, refusing anything not safetensors."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    data = path.read_bytes()
    try:
        tensors = load(data)
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
    except (SafetensorError, ValueError, OSError) as err:
        raise CheckpointError(f"{path} is not a valid safetensors checkpoint ({err}); adaspike never unpickles "
                              "files, so pickled .pt/.pth checkpoints must be converted by their trusted owner") from None
    try:
        meta = json.loads(header.get(_META_KEY, "{}"))
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: corrupted metadata ({err})") from None
    model_state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    extra = {k[len("extra."):]: v for k, v in tensors.items() if k.startswith("extra.")}
    return model_state, extra, meta


def load_model(path, **override_kwargs) -> nn.Module:
    """Rebuild a registered model from a checkpoint's metadata and load its weights."""
    from ..models import build_model

    state, _, meta = read_checkpoint(path)
    spec = meta.get("model")
    if not spec or "name" not in spec:
        raise CheckpointError(f"{path} has no model description; load it into your own model with read_checkpoint")
    model = build_model(spec["name"], **{**spec.get("kwargs", {}), **override_kwargs})
    load_state(model, state, str(path))
    return model


def load_state(model: nn.Module, state: dict[str, torch.Tensor], origin: str = "checkpoint") -> None:
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # size mismatches
        raise CheckpointError(f"{origin} does not match the model: {str(err).splitlines()[-1].strip()}") from None
    if missing or unexpected:
        raise CheckpointError(f"{origin} does not match the model: missing {missing[:5]}, unexpected {unexpected[:5]}")
