"""State-space form of a spiking neuron and its discretisation.

Continuous time, between spikes:   dx/dt = A x + B_c I(t)
Discrete time (kicks applied to the previous state before propagation, the "pre" convention):
    x'_t = x_{t-1} + K_reset · r_{t-1} + K_spike · s_{t-1}
    x_t  = H x'_t + B I_t
    s_t  = spike(C x_t − θ),  C = e_{mem_index}
where r is the reset amount (θ·s for reset by subtraction, the membrane for reset to zero, 0 for none).
In the notation x_t = H x_{t-1} + B I_t + R s_{t-1}, R = H (K_reset θ + K_spike) for subtractive reset.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import torch

from .clock import check_steps, constant_step
from .linalg import expm_and_phi, nonpositive_real_eigenvalues, spectral_radius, zoh_power
from .units import DEFAULT_DT, check_dt

DISCRETISATIONS = ("zoh", "euler", "bilinear")


def _check_finite(name: str, value: torch.Tensor) -> None:
    if not bool(torch.isfinite(value.detach()).all()):
        raise ValueError(f"{name} contains NaN or Inf: {value.detach().flatten()[:8].tolist()}")


_STABLE_SLACK = 1e-9


def check_explicit_stability(A: torch.Tensor, H: torch.Tensor, dt: float, method: str = "euler",
                             exact_dt: torch.Tensor | None = None) -> None:
    """Refuse an explicit discretisation that makes a decaying neuron grow (e.g. Euler at dt ≥ 2τ).

    The rule of :func:`adaspike.retime.maps.check_stability` with the exact (ZOH) step as the source: a neuron
    is newly unstable when its spectral radius |eig(H)| ≥ 1 exceeds that of exp(A dt). Marginal integrators
    (radius 1 in both, e.g. IF) pass.
    """
    step = dt if exact_dt is None else exact_dt  # per-matrix step lengths, when H holds several steps
    r_exact = spectral_radius(torch.linalg.matrix_exp(A.detach().to(torch.float64) * step)).reshape(-1)
    r = spectral_radius(H.detach().to(torch.float64)).reshape(-1)
    r_exact = r_exact.expand_as(r) if r_exact.numel() == 1 else r_exact
    new = (r >= 1) & (r > r_exact + _STABLE_SLACK)
    if bool(new.any()):
        rates = torch.linalg.eigvals(A.detach().to(torch.float64)).real.abs().reshape(-1)
        fastest = float(rates.max()) if rates.numel() else float("inf")
        raise ValueError(f"{method} discretisation at dt = {dt:g} s is unstable for {int(new.sum())} of {r.numel()} "
                         f"neuron(s) (|eig(H)| up to {float(r[new].max()):.4g} ≥ 1, while the exact step decays); "
                         f"explicit Euler needs dt < 2τ ≈ {2 / fastest:.3g} s for the fastest time constant here. "
                         "Use method='zoh' (exact) or 'bilinear', or a smaller dt")


def broadcast_shape(*shapes) -> torch.Size:
    """``torch.broadcast_shapes`` on plain shapes, without its tracing machinery (a scan asks twice per call,
    and torch's version costs tens of µs each). Raises RuntimeError for shapes that do not broadcast."""
    ndim = max((len(s) for s in shapes), default=0)
    out = [1] * ndim
    for shape in shapes:
        for i, d in enumerate(shape, ndim - len(shape)):
            if d != 1:
                if out[i] != 1 and out[i] != d:
                    raise RuntimeError(f"shapes {[tuple(s) for s in shapes]} do not broadcast")
                out[i] = int(d)
    return torch.Size(out)


@dataclass(eq=False)
class ContinuousSSM:
    """dx/dt = A x + B_c I with spike kicks; shapes A [*P, n, n], B_c/kicks [*P, n], threshold [*P]."""

    A: torch.Tensor
    Bc: torch.Tensor
    kick_reset: torch.Tensor
    kick_spike: torch.Tensor
    threshold: torch.Tensor
    mem_index: int = 0

    def __post_init__(self):
        for name in ("A", "Bc", "kick_reset", "kick_spike", "threshold"):
            _check_finite(name, getattr(self, name))

    @property
    def state_size(self) -> int:
        return self.A.shape[-1]

    def discretise(self, dt, method: str = "zoh") -> "DiscreteSSM":
        """Per-step form at time step ``dt`` seconds by ``zoh`` (exact), ``euler`` or ``bilinear``.

        ``dt`` may also be a tensor of step lengths, [T] or [T, B] (one clock per sample): the result is then a
        time-varying ``DiscreteSSM`` whose step t is this system discretised at ``dt[t]`` (each distinct length
        is discretised once)."""
        if isinstance(dt, torch.Tensor) and dt.dim() > 0:
            steps = check_steps(dt)
            if isinstance(steps, torch.Tensor):
                return self._discretise_steps(steps, method)
            dt = steps
        dt = check_dt(dt)
        H, B = self._step_matrices(dt, method)
        return DiscreteSSM(H=H, B=B, kick_reset=self.kick_reset.to(torch.float64),
                           kick_spike=self.kick_spike.to(torch.float64),
                           threshold=self.threshold.to(torch.float64), mem_index=self.mem_index, dt=dt,
                           method=method)

    def _step_matrices(self, dt, method: str, lead: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """(H, B) at step ``dt``: a float, or a float64 tensor [U, 1, ...] against A expanded to [U, *P, n, n]
        (``lead`` = 1 leading axis of step lengths)."""
        A = self.A.to(torch.float64)
        Bc = self.Bc.to(torch.float64)
        if lead:
            A, Bc = A.expand(dt.shape[0], *A.shape), Bc.expand(dt.shape[0], *Bc.shape)
        d_mat = dt[..., None, None] if lead else dt  # against [..., n, n]
        d_vec = dt[..., None] if lead else dt        # against [..., n]
        n = A.shape[-1]
        eye = torch.eye(n, dtype=torch.float64).expand_as(A)
        if method == "zoh":
            H, G = expm_and_phi(A, dt)
            return H, (G @ Bc[..., None])[..., 0]
        if method == "euler":
            H, B = eye + d_mat * A, d_vec * Bc
            check_explicit_stability(A, H, float(dt.max()) if lead else dt, exact_dt=d_mat if lead else None)
            return H, B
        if method == "bilinear":
            M = eye - d_mat * A / 2
            H = torch.linalg.solve(M, eye + d_mat * A / 2)
            return H, torch.linalg.solve(M, (d_vec * Bc)[..., None])[..., 0]
        raise ValueError(f"unknown discretisation {method!r}; choose one of {DISCRETISATIONS}")

    def _discretise_steps(self, steps: torch.Tensor, method: str) -> "DiscreteSSM":
        values, inverse = torch.unique(steps, return_inverse=True)
        lead_shape = (-1, *([1] * (self.A.dim() - 2)))
        H, B = self._step_matrices(values.reshape(lead_shape), method, lead=1)
        return DiscreteSSM(H=H[inverse], B=B[inverse], kick_reset=self.kick_reset.to(torch.float64),
                           kick_spike=self.kick_spike.to(torch.float64),
                           threshold=self.threshold.to(torch.float64), mem_index=self.mem_index,
                           dt=float(steps.mean()), method=method, time_varying=True, steps=steps)


@dataclass(eq=False)
class DiscreteSSM:
    """Per-step neuron: H [*P, n, n] (or [T, *P, n, n] when ``time_varying``), B and kicks [*P, n], θ [*P].

    ``dt`` (seconds) records the step these parameters are valid for; ``method`` how they were obtained
    (``zoh``/``euler``/``bilinear`` from a continuous model, ``discrete`` when built from per-step parameters,
    or the name of a retime map).

    ``steps`` (float64 [T] or [T, B], seconds) marks parameters that follow a clock of irregular step lengths:
    step t is valid for ``steps[t]`` (``dt`` is then their mean). With [T, B] (``per_sample``) each sample has
    its own clock and H, B are [T, B, *P, ...]; ``scan`` runs such a neuron one sample at a time.
    """

    H: torch.Tensor
    B: torch.Tensor
    kick_reset: torch.Tensor
    kick_spike: torch.Tensor
    threshold: torch.Tensor
    mem_index: int = 0
    dt: float = DEFAULT_DT
    method: str = "discrete"
    time_varying: bool = False
    steps: torch.Tensor | None = None

    def __post_init__(self):
        check_dt(self.dt)
        if self.steps is not None:
            if not self.time_varying:
                raise ValueError("a DiscreteSSM with per-step lengths (steps) must be time_varying")
            lead = tuple(self.steps.shape)
            if tuple(self.H.shape[:len(lead)]) != lead or tuple(self.B.shape[:len(lead)]) != lead:
                raise ValueError(f"H {tuple(self.H.shape)} and B {tuple(self.B.shape)} must lead with the "
                                 f"steps' shape {lead}")
        n = self.H.shape[-1]
        if self.H.shape[-2] != n:
            raise ValueError(f"H must be square in its last two axes, got shape {tuple(self.H.shape)}")
        for name in ("B", "kick_reset", "kick_spike"):
            if getattr(self, name).shape[-1] != n:
                raise ValueError(f"{name} must have state size {n} on its last axis, got {tuple(getattr(self, name).shape)}")
        if not 0 <= self.mem_index < n:
            raise ValueError(f"mem_index {self.mem_index} outside state size {n}")
        for name in ("H", "B", "kick_reset", "kick_spike", "threshold"):
            _check_finite(name, getattr(self, name))

    @property
    def state_size(self) -> int:
        return self.H.shape[-1]

    @property
    def per_sample(self) -> bool:
        """True when each sample of the batch has its own clock (``steps`` [T, B])."""
        return self.steps is not None and self.steps.dim() == 2

    def sample(self, b: int) -> "DiscreteSSM":
        """The neuron as sample ``b`` of a per-sample clock sees it (steps [T])."""
        if not self.per_sample:
            return self
        return self._derived(H=self.H[:, b], B=self.B[:, b], steps=self.steps[:, b])

    def _derived(self, **changes) -> "DiscreteSSM":
        """A copy with some fields replaced by views of checked ones (slices, casts): no second validation,
        which costs a pass over every parameter (long clocks make H and B [T, ...])."""
        out = copy.copy(self)
        out.__dict__.pop("_flat_layout", None)  # a cached kernel layout belongs to the original
        out.__dict__.update(changes)
        return out

    def restep(self, steps) -> "DiscreteSSM":
        """This fixed-step neuron at other step lengths (a float, or a tensor [T] / [T, B]) by the exact ZOH
        change of step: H^ρ, g(H)·B with ρ = new step / ``dt``; kicks and threshold unchanged.

        For a neuron discretised by ZOH this equals discretising its continuous model at the new steps. Raises
        when H has a real eigenvalue ≤ 0 (no real H^ρ exists)."""
        if self.time_varying:
            raise ValueError("restep needs a fixed-step neuron; this one is time-varying (per-step H)")
        checked = check_steps(steps)
        const = constant_step(checked)
        if const is not None and const == self.dt:
            return self
        bad = nonpositive_real_eigenvalues(self.H.detach())
        if bool(bad.any()):
            raise ValueError(f"cannot change the step of this neuron exactly: its H has {int(bad.sum())} real "
                             f"eigenvalue(s) ≤ 0, so H^ρ does not exist (a neuron from an Euler or a per-step "
                             f"discretisation that flips sign each step)")
        if const is not None:
            H, B = zoh_power(self.H, self.B, const / self.dt)
            return replace(self, H=H, B=B, kick_reset=self.kick_reset.to(torch.float64),
                           kick_spike=self.kick_spike.to(torch.float64),
                           threshold=self.threshold.to(torch.float64), dt=const, method=f"{self.method}+zoh")
        values, inverse = torch.unique(checked, return_inverse=True)
        lead = (-1, *([1] * (self.H.dim() - 2)))
        rho = (values / self.dt).reshape(lead)
        H, B = zoh_power(self.H.expand(values.numel(), *self.H.shape), self.B.expand(values.numel(), *self.B.shape),
                         rho)
        return DiscreteSSM(H=H[inverse], B=B[inverse], kick_reset=self.kick_reset.to(torch.float64),
                           kick_spike=self.kick_spike.to(torch.float64), threshold=self.threshold.to(torch.float64),
                           mem_index=self.mem_index, dt=float(checked.mean()), method=f"{self.method}+zoh",
                           time_varying=True, steps=checked)

    @property
    def param_shape(self) -> torch.Size:
        """Shape P of the per-neuron parameters, which must broadcast against the feature shape."""
        lead = (2 if self.per_sample else 1) if self.time_varying else 0
        shapes = [self.H.shape[lead:-2], self.B.shape[lead:-1], self.kick_reset.shape[:-1], self.kick_spike.shape[:-1], self.threshold.shape]
        return broadcast_shape(*shapes)

    def reset_matrix(self) -> torch.Tensor:
        """R of x_t = H x_{t-1} + B I_t + R s_{t-1} for reset by subtraction (pre-propagation kick)."""
        K = self.kick_reset * self.threshold[..., None] + self.kick_spike
        return (self.H @ K[..., None])[..., 0]

    def spectral_radius(self) -> torch.Tensor:
        return spectral_radius(self.H.detach().to(torch.float64))

    def to(self, dtype: torch.dtype | None = None, device=None) -> "DiscreteSSM":
        tensors = (self.H, self.B, self.kick_reset, self.kick_spike, self.threshold)
        if all((dtype is None or t.dtype == dtype) and (device is None or t.device == torch.device(device))
               for t in tensors):
            return self  # already there: skip the copy and the re-validation
        conv = lambda t: t.to(device=device, dtype=dtype)
        # a cast of finite values (float64 -> float32 may overflow to inf): checked once more, cheaply
        out = self._derived(H=conv(self.H), B=conv(self.B), kick_reset=conv(self.kick_reset),
                            kick_spike=conv(self.kick_spike), threshold=conv(self.threshold))
        for name in ("H", "B", "kick_reset", "kick_spike", "threshold"):
            value = getattr(out, name)
            if not bool(torch.isfinite(value.detach().sum())) and not bool(torch.isfinite(value.detach()).all()):
                raise ValueError(f"{name} is not finite in {dtype}: {value.detach().flatten()[:8].tolist()}")
        return out
