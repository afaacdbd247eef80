"""Shared by the tutorials: where figures and printed outputs go (set by docs/build.py), and a small, quiet torch.

Putting a tutorial's printed output on its page
-----------------------------------------------
``show(name, *values)`` prints like ``print`` and also appends the line to the output block ``name`` of this
tutorial, the file ``OUTPUTS/<tutorial>/<name>.txt`` (``<tutorial>`` is the script name without ``tutorial_``;
the first ``show`` of a block in a run truncates it). ``with output(name):`` does the same for everything
printed inside the ``with`` (tables printed by library code, for instance). The page includes a block with
pymdownx.snippets, inside a text fence::

    ```text
    --8<-- "outputs/retime/train.txt"
    ```

docs/build.py runs each tutorial with OUTPUTS and FIGURES in its scratch copy of docs/, and also saves the
tutorial's whole stdout as ``outputs/<tutorial>.txt`` (usable the same way). The site build is strict and
snippets check their paths, so a page that includes a block its tutorial did not write fails the build.
Run directly (``cd docs/tutorials && python tutorial_x.py``), a tutorial writes under docs/outputs and
docs/pages/figures instead.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path

import torch

__all__ = ["FIGURES", "OUTPUTS", "output", "show"]

torch.set_num_threads(1)
_DOCS = Path(__file__).resolve().parent.parent
FIGURES = Path(os.environ.get("ADASPIKE_DOCS_FIGURES", _DOCS / "pages" / "figures"))
FIGURES.mkdir(parents=True, exist_ok=True)
OUTPUTS = Path(os.environ.get("ADASPIKE_DOCS_OUTPUTS", _DOCS / "outputs"))
_TUTORIAL = Path(sys.argv[0]).stem.removeprefix("tutorial_") if sys.argv and sys.argv[0] else "interactive"
_started: set[str] = set()  # blocks already truncated in this run


def _block(name: str) -> Path:
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"an output block name is a plain file stem, got {name!r}")
    path = OUTPUTS / _TUTORIAL / f"{name}.txt"
    if name not in _started:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
        _started.add(name)
    return path


def show(name: str, *values, sep: str = " ") -> None:
    """``print(*values)`` and append the same line to this tutorial's output block ``name``."""
    line = sep.join(str(v) for v in values)
    print(line, flush=True)
    with _block(name).open("a") as handle:
        handle.write(line + "\n")


class _Tee(io.TextIOBase):
    def __init__(self, *streams):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


@contextlib.contextmanager
def output(name: str):
    """Everything printed inside the ``with`` goes to stdout and to this tutorial's output block ``name``."""
    with _block(name).open("a") as handle, contextlib.redirect_stdout(_Tee(sys.stdout, handle)):
        yield
