"""Integer codes that the fused kernels take for the reset mode and the surrogate: the one definition.

Plain ints with no imports, so the numba kernels (module constants frozen at compile time), the Triton kernels
(wrapped as ``tl.constexpr``) and the Python side (``layout``) all read the same values.
"""

RESET_SUBTRACT, RESET_ZERO, RESET_NONE = 0, 1, 2
SURR_FAST_SIGMOID, SURR_ARCTAN, SURR_SIGMOID, SURR_TRIANGLE = 0, 1, 2, 3
MAX_BURST = 255  # counts are stored as uint8
# With a refractory rule the saved count of a blocked neuron is this code (its spike is 0): the backward reads
# each step's mask from the counts. It is out of reach of a count, so refractory bursts are capped below it.
BLOCKED = 255

__all__ = ["BLOCKED", "MAX_BURST", "RESET_NONE", "RESET_SUBTRACT", "RESET_ZERO", "SURR_ARCTAN", "SURR_FAST_SIGMOID", "SURR_SIGMOID",
           "SURR_TRIANGLE"]
