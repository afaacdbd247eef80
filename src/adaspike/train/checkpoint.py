"""Checkpoints: one safetensors file holding tensors, with the JSON metadata embedded in its header.

safetensors never executes code, so loading an untrusted checkpoint is safe; anything else is refused.
Writes are atomic (temp file + os.replace).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..report.io import atomic_write_bytes

if TYPE_CHECKING:  # torch is imported where tensors are made: reading metadata alone needs none of it
    import torch
    from torch import nn

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


def _check_file(path) -> Path:
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a folder, not a .safetensors file")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    return path


def _not_safetensors(path: Path, err: Exception) -> CheckpointError:
    return CheckpointError(f"{path} is not a valid safetensors checkpoint ({err}); adaspike never unpickles "
                           "files, so pickled .pt/.pth checkpoints must be converted by their trusted owner")


def _decode_metadata(header: dict, path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(header.get(_META_KEY, "{}"))
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: corrupted metadata ({err})") from None
    except RecursionError:
        raise CheckpointError(f"{path}: metadata JSON is nested too deeply to be a checkpoint description") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: metadata must be a JSON object, got {type(meta).__name__}")
    return meta


def read_metadata(path) -> tuple[dict[str, Any], dict[str, int]]:
    """(metadata, {"tensors": count, "values": total elements}) of a checkpoint, from its header alone: no
    tensor is read and torch is not imported (``adaspike info``)."""
    import math

    from safetensors import SafetensorError, safe_open

    path = _check_file(path)
    try:
        with safe_open(str(path), framework="numpy") as handle:
            header = handle.metadata() or {}
            names = [k for k in handle.keys() if k.startswith("model.")]
            values = sum(math.prod(handle.get_slice(k).get_shape()) for k in names)
    except (SafetensorError, ValueError, OSError) as err:
        raise _not_safetensors(path, err) from None
    return _decode_metadata(header, path), {"tensors": len(names), "values": int(values)}


def read_checkpoint(path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, Any]]:
    """Return (model_state, extra_tensors, metadata) from a checkpoint, refusing anything not safetensors."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load

    path = _check_file(path)
    data = path.read_bytes()
    try:
        tensors = load(data)
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
    except (SafetensorError, ValueError, OSError) as err:
        raise _not_safetensors(path, err) from None
    meta = _decode_metadata(header, path)
    model_state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    extra = {k[len("extra."):]: v for k, v in tensors.items() if k.startswith("extra.")}
    return model_state, extra, meta


def load_model(path, **override_kwargs) -> nn.Module:
    """Rebuild a registered model from a checkpoint's metadata and load its weights."""
    from ..models import build_model

    state, _, meta = read_checkpoint(path)
    name, kwargs = model_spec(meta, str(path))
    kwargs = {**kwargs, **override_kwargs}
    check_size_options(kwargs, state, str(path))
    try:
        model = build_model(name, **kwargs)
    except MemoryError:
        raise CheckpointError(f"{path}: model {name!r} with {kwargs} does not fit in memory") from None
    except Exception as err:  # a builder refusing the kwargs (TypeError for unknown keys, ValueError, ...)
        raise CheckpointError(f"{path}: the model description does not build model {name!r}: "
                              f"{type(err).__name__}: {err}") from None
    load_state(model, state, str(path))
    return model


def model_spec(meta: dict, origin: str = "checkpoint") -> tuple[str, dict]:
    """The (name, kwargs) of a checkpoint's ``model`` entry, with their types checked."""
    spec = meta.get("model")
    if not spec:
        raise CheckpointError(f"{origin} has no model description; load it into your own model with read_checkpoint")
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise CheckpointError(f"{origin}: metadata 'model' must be an object with a string 'name', got {spec!r:.80}")
    kwargs = spec.get("kwargs", {})
    if not isinstance(kwargs, dict):
        raise CheckpointError(f"{origin}: metadata 'model.kwargs' must be an object, got {type(kwargs).__name__}")
    return spec["name"], kwargs


# An integer model option (a width, a class count) normally shows up as a tensor dimension; one far larger
# than every dimension in the file would allocate a model the file cannot fill (hidden=[300000] asks for
# hundreds of GB), so it is refused before anything is built.
_MAX_SIZE_OPTION = 1 << 14


def check_size_options(kwargs: dict, state: dict[str, torch.Tensor], origin: str = "checkpoint") -> None:
    largest = max((d for t in state.values() for d in t.shape), default=0)
    bound = max(largest, _MAX_SIZE_OPTION)

    def visit(value, where: str) -> None:
        if isinstance(value, bool):
            return
        if isinstance(value, int) and abs(value) > bound:
            raise CheckpointError(f"{origin}: model option {where} = {value} exceeds every tensor dimension in the "
                                  f"file (largest {largest}) and the bound {_MAX_SIZE_OPTION}; refusing to build it")
        if isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                visit(item, f"{where}[{i}]")
        elif isinstance(value, dict):
            for key, item in value.items():
                visit(item, f"{where}.{key}")

    for key, value in kwargs.items():
        visit(value, str(key))


def check_tensors(model: nn.Module, state: dict[str, torch.Tensor], origin: str = "checkpoint") -> None:
    """Refuse tensors that load_state_dict would silently cast or that poison every output: a non-float tensor
    where the model has a float one (bool/int weights), and NaN/Inf values (τ = +Inf)."""
    expected = model.state_dict()
    for key, value in state.items():
        target = expected.get(key)
        if target is None:
            continue
        if target.is_floating_point() and not value.is_floating_point():
            raise CheckpointError(f"{origin}: tensor {key!r} has dtype {value.dtype}, the model needs a floating "
                                  f"point tensor ({target.dtype})")
        if value.is_floating_point() and not bool(value.isfinite().all()):
            raise CheckpointError(f"{origin}: tensor {key!r} contains NaN or Inf")


def load_state(model: nn.Module, state: dict[str, torch.Tensor], origin: str = "checkpoint") -> None:
    check_tensors(model, state, origin)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # size mismatches
        raise CheckpointError(f"{origin} does not match the model: {str(err).splitlines()[-1].strip()}") from None
    if missing or unexpected:
        raise CheckpointError(f"{origin} does not match the model: missing {missing[:5]}, unexpected {unexpected[:5]}")
