"""Numbers as the study reports print them: mean ± sample sd, accuracies (fractions) as percentages."""
from __future__ import annotations

import math

__all__ = ["mean_sd", "percent"]


def mean_sd(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return mean, sd


def percent(fractions: list[float], empty: str = "-") -> str:
    """Fractions as ``"mean ± sd"`` in percent, one decimal (no ``± sd`` for one value; ``empty`` for none)."""
    if not fractions:
        return empty
    mean, sd = mean_sd([100 * v for v in fractions])
    return f"{mean:.1f}" + (f" ± {sd:.1f}" if len(fractions) > 1 else "")
