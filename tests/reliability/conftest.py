"""Shared writers for the bad-input corpus: every file is produced here in its real on-disk format."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from adaspike.models import build_model
from adaspike.train import save_checkpoint

SPEC = {"name": "snn", "kwargs": {"input_shape": [20], "classes": 4, "hidden": [8], "dt": 0.004}}


def tiny_model():
    torch.manual_seed(0)
    return build_model(SPEC["name"], **SPEC["kwargs"])


def write_raw_checkpoint(path: Path, tensors: dict[str, torch.Tensor], meta_json: str) -> Path:
    """A safetensors file with an arbitrary (possibly hostile) JSON string as its adaspike metadata."""
    from safetensors.torch import save

    path.write_bytes(save({k: v.contiguous() for k, v in tensors.items()}, metadata={"adaspike": meta_json}))
    return path


def model_tensors(model=None) -> dict[str, torch.Tensor]:
    model = model or tiny_model()
    return {f"model.{k}": v.detach().clone() for k, v in model.state_dict().items()}


@pytest.fixture
def good_checkpoint(tmp_path) -> Path:
    return save_checkpoint(tmp_path / "good.safetensors", tiny_model(),
                           {"data": {"dataset": "event-digits", "dt": 0.004, "options": {"pool": 2}}})
