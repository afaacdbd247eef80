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
* ``norse`` — Norse's own reading (``norse.torch.from_nir``, the same in 1.1 and master) and what Norse master's
  ``to_nir`` writes (τ = ``time_scaling_factor``/τ⁻¹, by default 1: seconds; read at the revision of
  ``norse/torch/utils/export_nir.py`` with that argument, see tests/interop/test_interop_norse_master.py):
  τ in seconds, Euler at the simulator's ``dt``,
  reset to zero, spike when v > θ; IF and the synaptic current of CubaLIF (``LIFCell``) take each step's input
  as a jump, and the membrane sees the current of the same step.
* ``norse-1.1`` — what Norse 1.1's ``to_nir`` writes: τ = dt_w·τ_true (it divides dt_w by 1/τ), with the
  writer's dt_w = 1 ms unless told otherwise; otherwise as ``norse``.
* ``sinabs`` — what ``sinabs.nir.to_nir`` (Sinabs 3.1.3) writes: τ in *steps*, R = 1, for layers simulated
  as α = e^{−1/τ} per step; ``LIF`` with its default ``norm_input=True`` (v_t = α v + (1−α) I_t: the ODE read
  with δ = 1 under ZOH), ``ExpLeak`` (LI, ``norm_input=False``: v_t = α v + I_t), ``IAF`` (v_t = v + I_t); reset
  by subtraction of ⌊v/θ⌋ spikes per step (``MultiSpike``), spike when v ≥ θ. Every IF membrane is held at or
  above −θ after each step, as Sinabs' own ``from_nir`` builds it (``IAFSqueeze(min_v_mem=−θ)``; the NIR paper's
  N-MNIST network was trained so, ``min_v_mem=-1``): the file does not record ``min_v_mem``, and this is how
  Sinabs reads it. The file does not record ``norm_input`` either: LIF layers built with ``norm_input=False`` —
  and Sinabs' own ``from_nir``, which reads every LIF so — need ``sinabs-raw`` (v_t = α v + I_t).
* ``rockpool`` — what Rockpool 3.1's ``rockpool.nn.modules.to_nir`` writes: τ in seconds and the writer's step δ
  hidden in R = τ·e^{−δ/τ}/δ (recovered exactly, δ = τ·W(1/R) with Lambert's W; Rockpool's own ``from_nir``
  takes min τ/(1+R), which is δ only approximately). The per-step model is Rockpool's: ``LIFNeuronTorch`` (LIF)
  v_t = α v + I_t, ``LIFTorch`` (CubaLIF) i_t = β (i + I_t), v_t = α v + i_t, ``ExpSynTorch`` (LI)
  i_t = β (i + I_t), with α, β = e^{−δ/τ}; ⌊v/θ⌋ spikes per step when v ≥ θ, reset by subtracting them.

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
from ..core.registry import Registry
from ..core.ssm import DISCRETISATIONS

__all__ = ["AUTO", "CONVENTIONS", "Convention", "get_convention", "leaky_step", "numpy_node", "rockpool_step",
           "signature_candidates", "step_from_r", "tau_from_step"]


@dataclass(frozen=True)
class Convention:
    """A writer's reading of NIR neuron nodes.

    ``file_dt``: the step (in the file's time unit) the writer discretised at; ``None`` means the file holds
    seconds and is discretised at the caller's ``dt``. ``method``: how the writer discretised (``None``: read
    from node metadata, else ZOH). ``reset``: the writer's reset, ``None`` when its files do not say (the caller
    must). ``cuba_new_current``: CubaLIF membrane driven by the current of the same step (snnTorch,
    SpikingJelly). ``subtract_after_decay``: reset by subtraction acts after the decay. ``tau_times_dt``: the
    writer stored τ·dt_w instead of τ (Norse 1.1), with dt_w = this default. ``impulse_input``: IF and CubaLIF
    synaptic inputs jump by I each step (Norse). ``step_in_r``: the writer's step is not fixed but stored in R
    (Rockpool, see ``step_from_r``); its inputs enter unscaled. ``max_spikes``: the writer's spikes per step.
    ``unit_input``: node types (``"LIF"``, ``"LI"``) whose writer adds R·I each step undecayed by (1−α).
    ``if_floor``: IF membranes are held at or above −θ (Sinabs). ``flatten_counts_batch``: the writer's (and its
    reader's) Flatten dims count the batch axis (torch's ``nn.Flatten`` on [B, ...]: snnTorch, Norse).
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
    step_in_r: bool = False
    max_spikes: int = 1
    unit_input: frozenset = frozenset()
    if_floor: bool = False
    flatten_counts_batch: bool = False
    writer: str = ""

    def step_method(self, metadata: dict) -> str:
        method = self.method or (metadata.get("discretisation") if self.trust_metadata else None) or "zoh"
        method = method.decode() if isinstance(method, bytes) else str(method)
        if method not in DISCRETISATIONS:
            raise ValueError(f"unknown discretisation {method!r} in NIR metadata; choose one of {DISCRETISATIONS}")
        return method


#: accepted by ``import_nir``/``--convention``: detect the writer from the graph
AUTO = "auto"

CONVENTIONS: Registry[Convention] = Registry("NIR convention", {
    "adaspike": Convention("adaspike", None, None, reset="zero", strict=True, trust_metadata=True,
                           writer="adaspike export_nir"),
    "snntorch": Convention("snntorch", 1e-4, "euler", reset=None, strict=True, cuba_new_current=True,
                           subtract_after_decay=True, flatten_counts_batch=True,
                           writer="snntorch.export_nir.export_to_nir"),
    "spikingjelly": Convention("spikingjelly", 1e-4, "euler", reset="zero", strict=False, cuba_new_current=True,
                               writer="spikingjelly.activation_based.nir_exchange.export_to_nir(dt=1e-4)"),
    "norse": Convention("norse", None, "euler", reset="zero", strict=True, impulse_input=True,
                        cuba_new_current=True, flatten_counts_batch=True,
                        writer="Norse master's to_nir (τ in seconds) and norse.torch.from_nir's reading"),
    "norse-1.1": Convention("norse-1.1", None, "euler", reset="zero", strict=True, impulse_input=True,
                            cuba_new_current=True, tau_times_dt=1e-3, flatten_counts_batch=True,
                            writer="norse.torch.utils.export_nir.to_nir (Norse 1.1, dt=1 ms)"),
    # Sinabs' MultiSpike has no cap; 255 is the most the core's spike counts hold
    "sinabs": Convention("sinabs", 1.0, "zoh", reset="subtract", strict=False, max_spikes=255,
                         unit_input=frozenset({"LI"}), if_floor=True,
                         writer="sinabs.nir.to_nir (Sinabs 3.1.3; LIF norm_input=True)"),
    "sinabs-raw": Convention("sinabs-raw", 1.0, "zoh", reset="subtract", strict=False, max_spikes=255,
                             unit_input=frozenset({"LI", "LIF"}), if_floor=True,
                             writer="sinabs.nir.to_nir of LIF(norm_input=False), as sinabs.nir.from_nir reads it"),
    # Rockpool emits up to 2**16 spikes per step; 255 is the most the core's spike counts hold
    "rockpool": Convention("rockpool", None, "zoh", reset="subtract", strict=False, step_in_r=True, max_spikes=255,
                           writer="rockpool.nn.modules.to_nir (Rockpool 3.1)"),
}, also=(AUTO,))


def get_convention(name: str | Convention) -> Convention:
    if isinstance(name, Convention):
        return name
    return CONVENTIONS[str(name).lower()]


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


def step_from_r(tau, r) -> np.ndarray:
    """Rockpool's step δ from R = τ·e^{−δ/τ}/δ: (δ/τ)·e^{δ/τ} = 1/R, so δ = τ·W(1/R) (principal branch of
    Lambert's W; NaN where R ≤ 0)."""
    from scipy.special import lambertw  # local: scipy is a dependency, but only this reader needs it

    tau, r = np.asarray(tau, np.float64), np.asarray(r, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(r > 0, tau * lambertw(1 / np.where(r > 0, r, 1)).real, np.nan)


def rockpool_step(node) -> float | None:
    """The one step a Rockpool node's R encodes, or ``None`` when it encodes none (R = 1: every other writer)."""
    import nir

    tau = node.tau_mem if isinstance(node, nir.CubaLIF) else node.tau
    r = np.asarray(node.r, np.float64)
    if r.size == 0 or _close(r, 1) or (isinstance(node, nir.CubaLIF) and not _close(node.w_in, 1)):
        return None
    step = step_from_r(tau, r)
    if not np.all(np.isfinite(step)) or not np.all(step > 0) or not _close(step, step.flat[0]):
        return None
    return float(step.flat[0])


def _close(a, b, rtol=1e-3) -> bool:
    return bool(np.allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=rtol, atol=0))


def _sinabs(tau) -> set[str]:
    """Sinabs' τ counts steps: one under a step (a decay of more than e per step) is not from Sinabs."""
    return {"sinabs", "sinabs-raw"} if np.min(np.asarray(tau, np.float64)) >= 1 else set()


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
            out |= {"spikingjelly"} | _sinabs(tau) | ({"norse-1.1"} if tau.max() < 5e-4 else {"norse"})
        return out | ({"rockpool"} if rockpool_step(node) else set())
    if isinstance(node, nir.CubaLIF):
        r, w = np.asarray(node.r, np.float64), np.asarray(node.w_in, np.float64)
        out = set()
        if _close(r * step / np.asarray(node.tau_mem), 1) and _close(w * step / np.asarray(node.tau_syn), 1):
            out |= {"snntorch", "spikingjelly"}
        if _close(r, 1) and _close(w, 1):
            out |= {"norse-1.1"} if np.max(node.tau_mem) < 5e-4 else {"norse"}
        return out | ({"rockpool"} if rockpool_step(node) else set())
    if isinstance(node, nir.IF):
        r = np.asarray(node.r, np.float64)
        return ({"spikingjelly"} if _close(r * step, 1) else set()) | ({"norse", "norse-1.1", "sinabs", "sinabs-raw"}
                                                                       if _close(r, 1) else set())
    if isinstance(node, nir.LI):
        rockpool = {"rockpool"} if rockpool_step(node) else set()
        sinabs = _sinabs(node.tau) if _close(node.r, 1) else set()
        return ({"norse", "norse-1.1"} if np.max(node.tau) >= 5e-4 else {"norse-1.1"}) | rockpool | sinabs
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
