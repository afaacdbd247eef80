"""Time units: the library works in seconds; users may write ``4ms``, ``250us`` or ``0.004``."""
from __future__ import annotations

import math
import re

_UNIT_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_TIME_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(s|ms|us|µs|ns)?\s*$")


def parse_time(value: str | float | int) -> float:
    """Return a duration in seconds from ``"4ms"``, ``"250us"``, ``"0.004"`` or a number (seconds)."""
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _TIME_RE.match(str(value))
        if match is None:
            raise ValueError(f"cannot read {value!r} as a duration; write e.g. '4ms', '250us' or '0.004' (seconds)")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]
    return check_dt(seconds)


def check_dt(dt: float, name: str = "dt") -> float:
    """Validate a time step in seconds: finite and strictly positive."""
    dt = float(dt)
    if not math.isfinite(dt) or dt <= 0.0:
        raise ValueError(f"{name} must be a finite duration > 0 seconds, got {dt!r}")
    return dt


def format_time(seconds: float) -> str:
    """Short human form: 0.004 -> '4ms'."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if abs(seconds) >= scale:
            return f"{seconds / scale:g}{unit}"
    return f"{seconds:g}s"
