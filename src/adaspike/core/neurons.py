"""Neuron models in continuous time with units (time constants in seconds), as typed parameter objects.

Each model gives its continuous state-space form (``continuous()``) and hence its per-step form at any ``dt``
(``discretise(dt, method)``). ``*_discrete`` functions build the per-step form directly from the parameters
that discrete-time codebases train (α, β, a, b), so such models can be loaded and later re-discretised.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .ssm import ContinuousSSM, DiscreteSSM
from .units import DEFAULT_DT, check_dt

Scalar = float | torch.Tensor


def _t(value: Scalar) -> torch.Tensor:
    return value if isinstance(value, torch.Tensor) else torch.tensor(float(value), dtype=torch.float64)


def _positive(name: str, value: torch.Tensor) -> torch.Tensor:
    v = value.detach()
    if not bool(torch.isfinite(v).all()):
        raise ValueError(f"{name} contains NaN or Inf")
    if bool((v <= 0).any()):
        raise ValueError(f"{name} must be > 0 (seconds for time constants), got min {float(v.min())}")
    return value


def _broadcast(*tensors: torch.Tensor) -> list[torch.Tensor]:
    shape = torch.broadcast_shapes(*(t.shape for t in tensors))
    return [t.to(torch.float64).expand(shape) for t in tensors]


def _vec(*entries: torch.Tensor) -> torch.Tensor:
    return torch.stack(_broadcast(*entries), dim=-1)


def _mat(rows: list[list[torch.Tensor]]) -> torch.Tensor:
    flat = _broadcast(*(e for row in rows for e in row))
    n = len(rows)
    return torch.stack([torch.stack(flat[i * n:(i + 1) * n], dim=-1) for i in range(n)], dim=-2)


@dataclass(eq=False)
class IFParams:
    """Integrate-and-fire: dv/dt = gain·I (gain in 1/s); on a spike v ← v − θ (or 0)."""

    gain: Scalar = 1e3
    threshold: Scalar = 1.0

    def __post_init__(self):
        self.gain, self.threshold = _t(self.gain), _positive("threshold", _t(self.threshold))

    def continuous(self) -> ContinuousSSM:
        g, th = _broadcast(self.gain, self.threshold)
        zero = torch.zeros_like(g)
        return ContinuousSSM(A=_mat([[zero]]), Bc=_vec(g), kick_reset=_vec(zero - 1), kick_spike=_vec(zero),
                             threshold=th)

    def discretise(self, dt: float, method: str = "zoh") -> DiscreteSSM:
        return self.continuous().discretise(dt, method)


@dataclass(eq=False)
class LIFParams:
    """Leaky integrate-and-fire: τ dv/dt = −v + r·I (τ in seconds); on a spike v ← v − θ (or 0)."""

    tau: Scalar = 20e-3
    threshold: Scalar = 1.0
    r: Scalar = 1.0

    def __post_init__(self):
        self.tau = _positive("tau", _t(self.tau))
        self.threshold, self.r = _positive("threshold", _t(self.threshold)), _t(self.r)

    def continuous(self) -> ContinuousSSM:
        tau, th, r = _broadcast(self.tau, self.threshold, self.r)
        zero = torch.zeros_like(tau)
        return ContinuousSSM(A=_mat([[-1 / tau]]), Bc=_vec(r / tau), kick_reset=_vec(zero - 1),
                             kick_spike=_vec(zero), threshold=th)

    def discretise(self, dt: float, method: str = "zoh") -> DiscreteSSM:
        return self.continuous().discretise(dt, method)


@dataclass(eq=False)
class CubaLIFParams:
    """Current-based LIF, x = [i, v]: τ_syn di/dt = −i + w_in·I;  τ_mem dv/dt = −v + r·i."""

    tau_syn: Scalar = 5e-3
    tau_mem: Scalar = 20e-3
    threshold: Scalar = 1.0
    r: Scalar = 1.0
    w_in: Scalar = 1.0

    def __post_init__(self):
        self.tau_syn, self.tau_mem = _positive("tau_syn", _t(self.tau_syn)), _positive("tau_mem", _t(self.tau_mem))
        self.threshold = _positive("threshold", _t(self.threshold))
        self.r, self.w_in = _t(self.r), _t(self.w_in)

    def continuous(self) -> ContinuousSSM:
        ts, tm, th, r, w = _broadcast(self.tau_syn, self.tau_mem, self.threshold, self.r, self.w_in)
        zero = torch.zeros_like(ts)
        A = _mat([[-1 / ts, zero], [r / tm, -1 / tm]])
        return ContinuousSSM(A=A, Bc=_vec(w / ts, zero), kick_reset=_vec(zero, zero - 1),
                             kick_spike=_vec(zero, zero), threshold=th, mem_index=1)

    def discretise(self, dt: float, method: str = "zoh") -> DiscreteSSM:
        return self.continuous().discretise(dt, method)


@dataclass(eq=False)
class AdLIFParams:
    """Adaptive LIF (Bittar & Garner), x = [u, w]:
    τ_u du/dt = −u + r·I − w;   τ_w dw/dt = −w + a·u;   on a spike u ← u − θ, w ← w + b.
    """

    tau_u: Scalar = 20e-3
    tau_w: Scalar = 100e-3
    a: Scalar = 0.5
    b: Scalar = 0.5
    threshold: Scalar = 1.0
    r: Scalar = 1.0

    def __post_init__(self):
        self.tau_u, self.tau_w = _positive("tau_u", _t(self.tau_u)), _positive("tau_w", _t(self.tau_w))
        self.threshold = _positive("threshold", _t(self.threshold))
        self.a, self.b, self.r = _t(self.a), _t(self.b), _t(self.r)

    def continuous(self) -> ContinuousSSM:
        tu, tw, a, b, th, r = _broadcast(self.tau_u, self.tau_w, self.a, self.b, self.threshold, self.r)
        zero = torch.zeros_like(tu)
        A = _mat([[-1 / tu, -1 / tu], [a / tw, -1 / tw]])
        return ContinuousSSM(A=A, Bc=_vec(r / tu, zero), kick_reset=_vec(zero - 1, zero),
                             kick_spike=_vec(zero, b), threshold=th)

    def discretise(self, dt: float, method: str = "zoh") -> DiscreteSSM:
        return self.continuous().discretise(dt, method)


# ---- per-step (discrete) forms, as trained by discrete-time codebases ---------------------------------------

def if_discrete(gain: Scalar = 1.0, threshold: Scalar = 1.0, dt: float = DEFAULT_DT) -> DiscreteSSM:
    """v_t = v_{t-1} − θ s_{t-1} + gain·I_t."""
    g, th = _broadcast(_t(gain), _t(threshold))
    one, zero = torch.ones_like(g), torch.zeros_like(g)
    return DiscreteSSM(H=_mat([[one]]), B=_vec(g), kick_reset=_vec(-one), kick_spike=_vec(zero),
                       threshold=th, dt=check_dt(dt))


def lif_discrete(alpha: Scalar, gain: Scalar | None = None, threshold: Scalar = 1.0, dt: float = DEFAULT_DT) -> DiscreteSSM:
    """v_t = α (v_{t-1} − θ s_{t-1}) + gain·I_t; gain defaults to 1 − α (the ZOH form)."""
    alpha = _t(alpha)
    gain = 1 - alpha if gain is None else _t(gain)
    al, g, th = _broadcast(alpha, gain, _t(threshold))
    zero = torch.zeros_like(al)
    return DiscreteSSM(H=_mat([[al]]), B=_vec(g), kick_reset=_vec(zero - 1), kick_spike=_vec(zero),
                       threshold=th, dt=check_dt(dt))


def cuba_lif_discrete(alpha_syn: Scalar, alpha_mem: Scalar, threshold: Scalar = 1.0, dt: float = DEFAULT_DT) -> DiscreteSSM:
    """i_t = α_s i_{t-1} + I_t;  v_t = α_m (v_{t-1} − θ s_{t-1}) + i_t  (H = [[α_s, 0], [α_s, α_m]], B = [1, 1])."""
    a_s, a_m, th = _broadcast(_t(alpha_syn), _t(alpha_mem), _t(threshold))
    zero, one = torch.zeros_like(a_s), torch.ones_like(a_s)
    return DiscreteSSM(H=_mat([[a_s, zero], [a_s, a_m]]), B=_vec(one, one), kick_reset=_vec(zero, -one),
                       kick_spike=_vec(zero, zero), threshold=th, mem_index=1, dt=check_dt(dt))


def adlif_discrete(alpha: Scalar, beta: Scalar, a: Scalar, b: Scalar, threshold: Scalar = 1.0,
                   dt: float = DEFAULT_DT) -> DiscreteSSM:
    """Bittar & Garner adLIF:
        w_t = β w_{t-1} + a u_{t-1} + b s_{t-1}
        u_t = α (u_{t-1} − θ s_{t-1}) + (1 − α)(I_t − w_t)
    In SSM form H = [[α − (1−α)a, −(1−α)β], [a, β]], B = [1−α, 0]; the kicks K = [−θ, (aθ + b)/β] restore
    the pre-reset u that the adaptation sees.
    """
    al, be, a_, b_, th = _broadcast(_t(alpha), _t(beta), _t(a), _t(b), _t(threshold))
    zero = torch.zeros_like(al)
    H = _mat([[al - (1 - al) * a_, -(1 - al) * be], [a_, be]])
    return DiscreteSSM(H=H, B=_vec(1 - al, zero), kick_reset=_vec(zero - 1, a_ / be),
                       kick_spike=_vec(zero, b_ / be), threshold=th, dt=check_dt(dt))


def tau_from_decay(alpha: Scalar, dt: float) -> torch.Tensor:
    """τ = −dt / ln α: the time constant whose ZOH decay over ``dt`` is α."""
    alpha = _t(alpha)
    if bool(((alpha <= 0) | (alpha >= 1)).any()):
        raise ValueError("decay factors must lie in (0, 1) to define a time constant")
    return -check_dt(dt) / torch.log(alpha)


def decay_from_tau(tau: Scalar, dt: float) -> torch.Tensor:
    """α = exp(−dt/τ)."""
    return torch.exp(-check_dt(dt) / _positive("tau", _t(tau)))
