"""Time units: the library works in seconds; users may write ``4ms``, ``250us`` or ``0.004``."""
from __future__ import annotations

import math
import re
import warnings

DEFAULT_DT = 1e-3
"""The default time step (seconds) of neuron layers, per-step neuron builders and ``DiscreteSSM``."""
DEFAULT_BIN_DT = 4e-3
"""The default time step (seconds) at which event/audio data are binned and the model zoo is built."""

# a bare number this large (seconds) is more likely a forgotten unit ("4" meant as 4 ms) than a real time step
_IMPLAUSIBLE_BARE_SECONDS = 1.0

_UNIT_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_TIME_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(s|ms|us|µs|ns)?\s*$")


def parse_time(value: str | float | int, name: str = "dt", *, strict: bool = False) -> float:
    """Return a duration in seconds from ``"4ms"``, ``"250us"``, ``"0.004"`` or a number (seconds).

    The one owner of time-step parsing: layers, retime, the CLI and TOML configs all come through here.
    Refuses dt <= 0, NaN and Inf. A bare number >= 1 s (no unit) warns, or raises when ``strict`` (the CLI),
    because ``--dt 4`` almost always meant 4 ms.
    """
    bare = True
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a duration such as '4ms' or 0.004 (seconds), got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # 0-d tensor / numpy scalar
        seconds = float(value.item())
    elif isinstance(value, str):
        match = _TIME_RE.match(value)
        if match is None:
            raise ValueError(f"cannot read {name} = {value!r} as a duration; write e.g. '4ms', '250us' or "
                             "'0.004' (seconds)")
        bare = match.group(2) is None
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]
    else:
        raise ValueError(f"{name} must be a duration such as '4ms' or 0.004 (seconds), got "
                         f"{type(value).__name__} {value!r}")
    seconds = check_dt(seconds, name)
    if bare and seconds >= _IMPLAUSIBLE_BARE_SECONDS:
        message = (f"{name} = {value!r} without a unit means {seconds:g} seconds; write e.g. '{value}ms' if you "
                   f"meant milliseconds, or '{value}s' to confirm seconds")
        if strict:
            raise ValueError(message)
        warnings.warn(message, UserWarning, stacklevel=3)
    return seconds


def check_dt(dt, name: str = "dt") -> float:
    """Validate a time step in seconds: finite and strictly positive. Strings with units go to parse_time."""
    if isinstance(dt, str):
        return parse_time(dt, name)
    try:
        dt = float(dt)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a duration such as '4ms' or 0.004 (seconds), got {dt!r}") from None
    if not math.isfinite(dt) or dt <= 0.0:
        raise ValueError(f"{name} must be a finite duration > 0 seconds, got {dt!r}")
    return dt


def format_time(seconds: float) -> str:
    """Short human form: 0.004 -> '4ms'."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if abs(seconds) >= scale:
            return f"{seconds / scale:g}{unit}"
    return f"{seconds:g}s"
