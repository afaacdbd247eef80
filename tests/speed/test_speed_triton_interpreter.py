"""The Triton kernels on CPU, through Triton's interpreter, in a child process (the interpreter is chosen when the
kernels are first compiled, so it needs ``TRITON_INTERPRET=1`` before anything imports them). This is how CI and
machines without a GPU check the GPU path's arithmetic against the reference."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("triton")
pytest.importorskip("numba")


@pytest.mark.slow
def test_triton_kernels_under_the_interpreter_match_the_reference():
    here = Path(__file__).parent
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "interpreter",
                          str(here / "test_speed_refractory.py")], env=env, capture_output=True, text=True,
                         timeout=900, cwd=here.parent.parent)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "skipped" not in run.stdout.split("\n")[-2], run.stdout[-2000:]
