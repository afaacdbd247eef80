"""Shared by the tutorials: where figures go (set by docs/build.py), and a quiet, small torch."""
from __future__ import annotations

import os
from pathlib import Path

import torch

torch.set_num_threads(1)
FIGURES = Path(os.environ.get("ADASPIKE_DOCS_FIGURES", Path(__file__).resolve().parent.parent / "pages" / "figures"))
FIGURES.mkdir(parents=True, exist_ok=True)
