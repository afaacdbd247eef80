"""Test-wide settings, applied before anything imports torch.

MKL's matrix products may round differently depending on the memory alignment of their operands, so two
equal products (the reference scan's ``s @ Vᵀ`` and the fused recurrent scan's into a buffer) could differ in the
last bit. ``MKL_CBWR=COMPATIBLE`` makes MKL's results independent of alignment, which the bit-exact
equivalence tests rely on (measured: a 4e-16 difference in a recurrent float64 case without it).
"""
import os

os.environ.setdefault("MKL_CBWR", "COMPATIBLE")
