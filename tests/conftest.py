"""Test-wide settings, applied before anything imports torch.

MKL's matrix products may round differently depending on the memory alignment of their operands, so two
equal products (the reference scan's ``s @ Vᵀ`` and the fused recurrent scan's into a buffer) could differ in the
last bit. ``MKL_CBWR=AUTO,STRICT`` keeps MKL's fastest code path but makes its results independent of
alignment, which the bit-exact equivalence tests rely on (measured: a 4e-16 difference in a recurrent float64
case without it). ``COMPATIBLE`` would too, but its generic path rounds differently for different batch sizes,
which broke the equality of chunked and whole-batch conversion runs.
"""
import os

os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")
# pytest-xdist runs one worker per core: each worker's torch on every core's threads oversubscribes the machine
# (measured: `pytest -n 2 -m "not slow"` on 2 cores took 236 s of CPU with torch's default threads, 121 s with one)
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
