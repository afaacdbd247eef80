"""How a NIR file's neuron parameters become a per-step model: one small object per writer's convention.

NIR stores continuous-time ODEs but no ``dt``, no discretisation and no reset mode, so every writer bakes in
its own reading (anchors §5). The conventions, by the writer that produced the file:

* ``adaspike`` — τ in seconds, R as in the ODE; discretise at *your* ``dt`` (ZOH unless the node's metadata or
  the caller says otherwise); reset and spike condition from the metadata.
* ``snntorch`` — the exporter writes τ = δ/(1−β), R = τ/δ with δ = 1e-4 s fixed, and simulates
  v_t = β v_{t-1} + I_t: Euler at δ, spike when v > θ; CubaLIF (``Synaptic``) drives v with the *new*
  synaptic current. The file does **not** record the reset (``Leaky`` defaults to subtraction), so the caller
  must name it. Its subtraction removes θ *after* the decay (v_t = β v + I − θ s_{t−1}), expressed as a reset
  kick of −θ/β.
* ``spikingjelly`` — τ_NIR = τ_steps·δ with δ = 1e-4 s, R = 1 (decay-input) or τ_steps, IF with R = 1/δ:
  also Euler at δ, hard reset, spike when v ≥ θ.
* ``norse`` — Norse's own reading (``norse.torch.from_nir``): τ in seconds, Euler at the simulator's ``dt``,
  reset to zero, spike when v > θ; IF and the synaptic current of CubaLIF (``LIFCell``) take each step's input
  as a jump, and the membrane sees the current of the same step.
* ``norse-1.1`` — what Norse 1.1's ``to_nir`` writes: τ = dt_w·τ_true (it divides dt_w by 1/τ), with the
  writer's dt_w = 1 ms unless told otherwise; otherwise as ``norse``.
* ``sinabs`` — τ in *steps* with R = 1: the ODE read with δ = 1 (unit step), ZOH (α = e^{−1/τ}),
  reset by subtraction, spike when v ≥ θ.

Each convention reduces a neuron to per-step factors (decay, input gain) through the core's discretisation
(``adaspike.core.neurons``), run at the caller's ``dt`` (step k of the file ↔ time k·dt in adaspike), so the
imported model reproduces the writer's simulation step for step and knows its physical time constants.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from ..core.neurons import LIFParams, tau_from_decay
from ..core.ssm import DISCRETISATIONS

__all__ = ["AUTO", "CONVENTIONS", "Convention", "get_convention", "leaky_step", "numpy_node", "signature_candidates",
           "tau_from_step"]


@dataclass(frozen=True)
class Convention:
    """A writer's reading of NIR neuron nodes.

    ``file_dt``: the step (in the file's time unit) the writer discretised at; ``None`` means the file holds
    seconds and is discretised at the caller's ``dt``. ``method``: how the writer discretised (``None``: read
    from node metadata, else ZOH). ``reset``: the writer's reset, ``None`` when its files do not say (the caller
    must). ``cuba_new_current``: CubaLIF membrane driven by the current of the same step (snnTorch,
    SpikingJelly). ``subtract_after_decay``: reset by subtraction acts after the decay. ``tau_times_dt``: the
    writer stored τ·dt_w instead of τ (Norse 1.1), with dt_w = this default. ``impulse_input``: IF and CubaLIF
    synaptic inputs jump by I each step (Norse).
    """

    name: str
    file_dt: float | None
    method: str | None
    reset: str | None
    strict: bool
    cuba_new_current: bool = False
    trust_metadata: bool = False
    subtract_after_decay: bool = False
    tau_times_dt: float | None = None
    impulse_input: bool = False
    writer: str = ""

    def step_method(self, metadata: dict) -> str:
        method = self.method or (metadata.get("discretisation") if self.trust_metadata else None) or "zoh"
        method = method.decode() if isinstance(method, bytes) else str(method)
        if method not in DISCRETISATIONS:
            raise ValueError(f"unknown discretisation {method!r} in NIR metadata; choose one of {DISCRETISATIONS}")
        return method


CONVENTIONS: dict[str, Convention] = {
    "adaspike": Convention("adaspike", None, None, reset="zero", strict=True, trust_metadata=True,
                           writer="adaspike export_nir"),
    "snntorch": Convention("snntorch", 1e-4, "euler", reset=None, strict=True, cuba_new_current=True,
                           subtract_after_decay=True, writer="snntorch.export_nir.export_to_nir"),
    "spikingjelly": Convention("spikingjelly", 1e-4, "euler", reset="zero", strict=False, cuba_new_current=True,
                               writer="spikingjelly.activation_based.nir_exchange.export_to_nir(dt=1e-4)"),
    "norse": Convention("norse", None, "euler", reset="zero", strict=True, impulse_input=True,
                        cuba_new_current=True, writer="Norse with τ in seconds (its importer's reading)"),
    "norse-1.1": Convention("norse-1.1", None, "euler", reset="zero", strict=True, impulse_input=True,
                            cuba_new_current=True, tau_times_dt=1e-3, writer="norse.torch.utils.export_nir.to_nir (Norse 1.1, dt=1 ms)"),
    "sinabs": Convention("sinabs", 1.0, "zoh", reset="subtract", strict=False, writer="Sinabs (τ in steps)"),
}
#: accepted by ``import_nir``/``--convention``: detect the writer from the graph
AUTO = "auto"


def get_convention(name: str | Convention) -> Convention:
    if isinstance(name, Convention):
        return name
    try:
        return CONVENTIONS[str(name).lower()]
    except KeyError:
        raise ValueError(f"unknown NIR convention {name!r}; choose one of {sorted(CONVENTIONS)} or {AUTO!r}") from None


def leaky_step(tau, r, step: float, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-step (decay α, input gain b) of τ dv/dt = −v + R·I over ``step`` with a held input, by the core's
    discretisation (ZOH α = e^{−δ/τ}, b = R(1−α); Euler α = 1 − δ/τ, b = Rδ/τ; bilinear).
    """
    tau = torch.as_tensor(np.asarray(tau, dtype=np.float64))
    r = torch.as_tensor(np.asarray(r, dtype=np.float64))
    ssm = LIFParams(tau=tau, r=r).discretise(step, method)
    return ssm.H[..., 0, 0].numpy(), ssm.B[..., 0].numpy()


def tau_from_step(alpha, dt: float, name: str) -> np.ndarray:
    """The time constant whose exact (ZOH) decay over ``dt`` is α; α must lie in (0, 1)."""
    alpha = np.asarray(alpha, dtype=np.float64)
    if not np.all(np.isfinite(alpha)) or np.any((alpha <= 0) | (alpha >= 1)):
        raise ValueError(f"{name}: per-step decay {alpha.min():.4g}..{alpha.max():.4g} is outside (0, 1); "
                         "the file's τ is shorter than its writer's step, so the neuron is unstable there")
    return tau_from_decay(torch.as_tensor(alpha), dt).numpy()


def _close(a, b, rtol=1e-3) -> bool:
    return bool(np.allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=rtol, atol=0))


def signature_candidates(node) -> set[str] | None:
    """Conventions whose writers produce this neuron node (``None``: the node says nothing)."""
    import nir  # local: nir is needed only here and by the importer

    peers = set(CONVENTIONS) - {"adaspike"}
    step = 1e-4  # the fixed step of the snnTorch and SpikingJelly exporters
    if isinstance(node, nir.LIF):
        tau, r = np.asarray(node.tau, np.float64), np.asarray(node.r, np.float64)
        out = set()
        if _close(r * step / tau, 1):
            out |= {"snntorch", "spikingjelly"}  # snnTorch Leaky, SpikingJelly LIF(decay_input=False)
        if _close(r, 1):
            out |= {"spikingjelly", "sinabs"} | ({"norse-1.1"} if tau.max() < 5e-4 else {"norse"})
        return out
    if isinstance(node, nir.CubaLIF):
        r, w = np.asarray(node.r, np.float64), np.asarray(node.w_in, np.float64)
        out = set()
        if _close(r * step / np.asarray(node.tau_mem), 1) and _close(w * step / np.asarray(node.tau_syn), 1):
            out |= {"snntorch", "spikingjelly"}
        if _close(r, 1) and _close(w, 1):
            out |= {"norse-1.1"} if np.max(node.tau_mem) < 5e-4 else {"norse"}
        return out
    if isinstance(node, nir.IF):
        r = np.asarray(node.r, np.float64)
        return ({"spikingjelly"} if _close(r * step, 1) else set()) | ({"norse", "norse-1.1", "sinabs"}
                                                                       if _close(r, 1) else set())
    if isinstance(node, nir.LI):
        return {"norse", "norse-1.1"} if np.max(node.tau) >= 5e-4 else {"norse-1.1"}
    return None if not isinstance(node, nir.NIRGraph) else peers


def numpy_node(node):
    """The node with torch tensors turned into numpy arrays (Norse puts tensors into the graphs it writes)."""
    changes = {k: v.detach().cpu().numpy() for k, v in vars(node).items() if isinstance(v, torch.Tensor)}
    if not changes:
        return node
    node = copy.copy(node)
    for k, v in changes.items():
        setattr(node, k, v)
    return node
