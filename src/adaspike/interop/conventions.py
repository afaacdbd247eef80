"""How a NIR file's neuron parameters become a per-step model: one small object per exporter convention.

NIR stores continuous-time ODEs but no ``dt``, no discretisation and no reset mode, so every exporter bakes in
its own reading (anchors §5):

* ``adaspike`` — τ in seconds, R as in the ODE; discretise at *your* ``dt`` (ZOH unless the node's metadata or
  the caller says otherwise). Norse and Rockpool files are read this way too.
* ``snntorch`` — the exporter writes τ = δ/(1−β), R = τ/δ with δ = 1e-4 s fixed, and simulates
  v_t = β v_{t-1} + I_t: Euler at δ, reset to zero, spike when v > θ; CubaLIF (``Synaptic``) drives v with the
  *new* synaptic current. Its reset by subtraction removes θ *after* the decay (v_t = β v + I − θ s_{t−1}),
  which we express as a reset kick of −θ/β; its ``Synaptic`` reset-to-zero also drops that step's input, which
  no pre-propagation reset can express (we reset before integrating, as ``Leaky`` does).
* ``spikingjelly`` — τ_NIR = τ_steps·δ with δ = 1e-4 s, R = 1 (decay-input) or τ_steps, IF with R = 1/δ:
  also Euler at δ, hard reset, spike when v ≥ θ.
* ``sinabs`` — τ in *steps* with R = 1: the ODE read with δ = 1 (unit step), ZOH (α = e^{−1/τ}),
  reset by subtraction, spike when v ≥ θ.

Each convention reduces a neuron to per-step factors (decay, input gain) that are then run at the caller's
``dt`` (step k of the file ↔ time k·dt in adaspike), so the imported model reproduces the exporter's
simulation step for step, and knows its physical time constants for retiming.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.ssm import DISCRETISATIONS


@dataclass(frozen=True)
class Convention:
    """An exporter's reading of NIR neuron nodes.

    ``file_dt``: the step (in the file's time unit) the exporter discretised at; ``None`` means the file holds
    true seconds and is discretised at the caller's ``dt``. ``method``: how the exporter discretised
    (``None``: read from node metadata, else ZOH). ``reset`` / ``strict``: defaults when metadata is silent.
    ``cuba_new_current``: CubaLIF membrane driven by the current of the same step (snnTorch, SpikingJelly)
    rather than the exact ODE coupling. ``subtract_after_decay``: reset by subtraction acts after the decay.
    """

    name: str
    file_dt: float | None
    method: str | None
    reset: str
    strict: bool
    cuba_new_current: bool = False
    trust_metadata: bool = False
    subtract_after_decay: bool = False

    def step_method(self, metadata: dict) -> str:
        method = self.method or (metadata.get("discretisation") if self.trust_metadata else None) or "zoh"
        method = method.decode() if isinstance(method, bytes) else str(method)
        if method not in DISCRETISATIONS:
            raise ValueError(f"unknown discretisation {method!r} in NIR metadata; choose one of {DISCRETISATIONS}")
        return method


CONVENTIONS: dict[str, Convention] = {
    "adaspike": Convention("adaspike", None, None, reset="zero", strict=True, trust_metadata=True),
    "snntorch": Convention("snntorch", 1e-4, "euler", reset="zero", strict=True, cuba_new_current=True,
                           subtract_after_decay=True),
    "spikingjelly": Convention("spikingjelly", 1e-4, "euler", reset="zero", strict=False, cuba_new_current=True),
    "sinabs": Convention("sinabs", 1.0, "zoh", reset="subtract", strict=False),
}


def get_convention(name: str | Convention) -> Convention:
    if isinstance(name, Convention):
        return name
    try:
        return CONVENTIONS[str(name).lower()]
    except KeyError:
        raise ValueError(f"unknown NIR convention {name!r}; choose one of {sorted(CONVENTIONS)}") from None


def leaky_step(tau: np.ndarray, r: np.ndarray, step: float, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-step (decay α, input gain b) of τ dv/dt = −v + R·I over ``step`` with a held input:
    ZOH α = e^{−δ/τ}, b = R(1−α);  Euler α = 1 − δ/τ, b = Rδ/τ;  bilinear α = (1−δ/2τ)/(1+δ/2τ), b = Rδ/τ/(1+δ/2τ).
    """
    tau, r = np.asarray(tau, dtype=np.float64), np.asarray(r, dtype=np.float64)
    x = step / tau
    if method == "zoh":
        alpha = np.exp(-x)
        return alpha, r * -np.expm1(-x)
    if method == "euler":
        return 1.0 - x, r * x
    if method == "bilinear":
        return (1 - x / 2) / (1 + x / 2), r * x / (1 + x / 2)
    raise ValueError(f"unknown discretisation {method!r}")


def tau_from_step(alpha: np.ndarray, dt: float, name: str) -> np.ndarray:
    """The time constant whose exact (ZOH) decay over ``dt`` is α; α must lie in (0, 1)."""
    alpha = np.asarray(alpha, dtype=np.float64)
    if np.any((alpha <= 0) | (alpha >= 1)) or not np.all(np.isfinite(alpha)):
        raise ValueError(f"{name}: per-step decay {alpha.min():.4g}..{alpha.max():.4g} is outside (0, 1); "
                         "the file's τ is shorter than its exporter's step, so the neuron is unstable there")
    return -dt / np.log(alpha)
