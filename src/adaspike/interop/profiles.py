"""Export profiles: rewrite a generic adaspike NIR graph (true τ in seconds) into what one reader interprets
correctly (``export_nir(..., profile=...)``, CLI ``export-nir --for``).

Every reader simulates a per-step model of its own: snnTorch and SpikingJelly read τ as Euler at a fixed
δ = 1e-4 s; Norse reads τ in seconds but runs Euler at the ``dt`` passed to ``from_nir`` and ignores R; Sinabs
(3.1.3, ``sinabs.nir.from_nir``) reads τ in steps, decays by e^{−1/τ} and adds the input unscaled (it reads every
LIF as ``norm_input=False``); Rockpool (3.1) reads only CubaLIF, takes its step from min τ_mem/(1+R), runs
i_t = β (i + I_t), v_t = α v + i_t (α, β = e^{−δ/τ}) and ignores w_in, so a LIF is written as a CubaLIF whose
current lasts one step (τ_syn = δ/20, weights × e^{20}: the current left over into the next step is e^{−20} ≈ 2e-9
of it). A profile keeps *our* per-step model (decay α, gain b at the model's dt and discretisation) and writes the
τ the reader turns back into α (Euler readers τ = δ/(1−α), Sinabs τ = −1/ln α); the gain b that the reader cannot
hold goes into the weights feeding the neuron. A leaky-integrator readout, which snnTorch, Norse and SpikingJelly
cannot read (none maps NIR's LI), is written as a LIF whose threshold is never reached (metadata
``readout: membrane``): its membrane, in the reader's own neuron, is the readout. What the reader cannot run at
all (its reset, its CubaLIF coupling, a missing node type) is an error naming the feature and the training option
that avoids it; what it runs nearly alike (a tie at the threshold) is a warning.
"""
from __future__ import annotations

import copy
import json
import warnings
from dataclasses import dataclass

import nir
import numpy as np

from ..core.backends.codes import MAX_BURST
from ..core.registry import Registry
from .conventions import CONVENTIONS, leaky_step

__all__ = ["NEVER_FIRES", "PROFILES", "Profile", "Refusal", "apply_profile", "refusal_error", "train_command"]


@dataclass(frozen=True)
class Profile:
    """A reader: its fixed step (``None``: the ``dt`` the user passes to it), the neuron nodes it reads, its reset
    and spike condition, how it holds R (``r_form``: ``"one"`` — R = 1 and the Euler gain 1 − α, ``"tau"`` —
    R = τ/δ and gain 1, ``"unit"`` — R = 1 and gain 1, ``"rockpool"`` — a CubaLIF with R = τ/δ − 1 and a one-step
    current) and how it turns τ into a decay (``decay``: ``"euler"`` 1 − δ/τ or ``"exp"`` e^{−δ/τ}); whether its
    ``Flatten`` counts the batch axis is its convention's. ``stateless``: the weight/shape nodes it reads
    (``None``: all);
    ``max_spikes``: its spikes per step; ``membrane_readout``: an LI node is written as a never-firing LIF whose
    membrane is read; ``affine_only``: it reads weights only as Affine (a Linear is written with a zero bias);
    ``convention``: the ``adaspike.interop.CONVENTIONS`` entry that reads its files as it does."""

    name: str
    reader: str
    step: float | None
    nodes: tuple[type, ...]
    reset: str
    strict: bool
    r_form: str
    convention: str
    recurrent: bool = True
    stateless: tuple[type, ...] | None = None
    max_spikes: int = 1
    decay: str = "euler"
    membrane_readout: bool = False
    affine_only: bool = False
    subtract_via_synapse: bool = False
    note: str = ""


PROFILES: Registry[Profile | None] = Registry("export profile", {
    "generic": None,
    "snntorch": Profile("snntorch", "snntorch.import_nir.import_from_nir(graph)", 1e-4, (nir.LIF, nir.LI), "zero",
                        True, "tau", "snntorch", recurrent=False, membrane_readout=True),
    "norse": Profile("norse", "norse.torch.from_nir(graph, dt=...)", None, (nir.LIF, nir.LI), "zero", True, "one",
                     "norse", membrane_readout=True, subtract_via_synapse=True),
    "spikingjelly": Profile("spikingjelly", "spikingjelly.activation_based.nir_exchange.import_from_nir(graph, "
                            "dt=1e-4)", 1e-4, (nir.LIF, nir.LI), "zero", False, "tau", "spikingjelly",
                            membrane_readout=True),
    "sinabs": Profile("sinabs", "sinabs.nir.from_nir(graph, batch_size=...)", 1.0, (nir.LIF, nir.LI), "subtract",
                      False, "unit", "sinabs-raw", recurrent=False, decay="exp", affine_only=True,
                      stateless=(nir.Affine, nir.Linear, nir.Conv2d, nir.Flatten, nir.SumPool2d), max_spikes=2 ** 31,
                      note="feed it [batch·time, ...] (Sinabs' squeezed layers) and built with the batch size"),
    "rockpool": Profile("rockpool", "rockpool.nn.modules.from_nir (Rockpool 3.1)", None, (nir.LIF,), "subtract",
                        False, "rockpool", "rockpool", recurrent=False, stateless=(nir.Affine, nir.Linear),
                        max_spikes=2 ** 16, note="feed it [batch, time, features] (Rockpool is batch-first); LIF "
                        "layers are written as CubaLIF with a one-step current, since its from_nir reads no LIF"),
})
#: Rockpool profile: the written synaptic τ in steps of δ (the current decays by e^{−20} within a step)
_ONE_STEP_SYN = 1 / 20
#: the threshold of a membrane readout written as a LIF: never reached by a readout's membrane
NEVER_FIRES = 1e30


@dataclass(frozen=True)
class Refusal:
    """Why a reader cannot run a part (``node``) of the model, and what ``adaspike train`` would build instead: a
    ``flag`` (``--no-recurrent``, ``--neuron lif``, ``--readout sum``) and/or ``neuron_options``
    (``--model-options``, which the ``snn`` and ``conv-snn`` models pass to every neuron layer)."""

    node: str
    reason: str
    flag: str | None = None
    neuron_options: tuple = ()


def train_command(flags, neuron_options: dict) -> str:
    """The ``adaspike train`` options that build a model so, and the Python spelling of the neuron options."""
    words = [*dict.fromkeys(flags)]
    if neuron_options:
        words.append(f"--model-options '{json.dumps({'neuron_options': neuron_options})}'")
    python = f" (Python: neuron_options={neuron_options})" if neuron_options else ""
    return f"train it with `adaspike train ... {' '.join(words)}`{python}"


def refusal_error(p: Profile, refusals: list[Refusal]) -> ValueError:
    """One error for all the reasons reader ``p`` cannot run the model (the nodes grouped by reason), with the one
    training command that avoids every one that training can avoid."""
    nodes: dict[str, list[str]] = {}
    for r in refusals:
        nodes.setdefault(r.reason, []).append(r.node)
    reasons = [f"{', '.join(dict.fromkeys(names))}: {reason}" for reason, names in nodes.items()]
    flags = [r.flag for r in refusals if r.flag]
    options = {k: v for r in refusals for k, v in r.neuron_options}
    fix = train_command(flags, options) if flags or options else "no training option avoids this"
    return ValueError(f"cannot export for {p.name} ({p.reader}): {'; '.join(reasons)}; {fix}")


_WHY = {  # what a reader lacks, and the train flag that avoids it, for the errors
    nir.CubaLIF: ("runs CubaLIF with the same step's synaptic current (v_t driven by i_t), adaspike's CubaLIF is the "
                  "ODE", "--neuron lif"),
    nir.IF: ("has no IF reader matching dv/dt = R·I", "--neuron lif"),
    nir.LI: ("has no LI (non-spiking readout) node", "--readout sum"),
}
_WHY_PROFILE = {("rockpool", nir.LI): ("has no usable LI reader (its from_nir truncates τ to whole seconds, "
                                       "tau.int())", "--readout sum"),
                ("sinabs", nir.IF): ("floors every IF membrane at −θ (IAFSqueeze(min_v_mem=−θ)), adaspike's IF has "
                                     "no floor", "--neuron lif")}
_RECURRENT_WHY = {"snntorch": "snnTorch 1.0 wraps the loop into an RLeaky subgraph that nirtorch 2.6 cannot build",
                  "rockpool": "Rockpool reads recurrent layers only from its own LIFTorch(has_rec) subgraphs",
                  "sinabs": "Sinabs runs each layer over the whole sequence at once"}


def _meta(node) -> dict:
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in dict(node.metadata or {}).items()}


def _fold_into_inputs(graph: nir.NIRGraph, name: str, factor: np.ndarray) -> None:
    """Multiply the rows of every weight node feeding ``name`` by ``factor`` (the input gain the reader lacks)."""
    if np.allclose(factor, 1, rtol=1e-7, atol=0):
        return
    feeders = [s for s, d in graph.edges if d == name]
    for src in feeders:
        w = graph.nodes[src]
        if not isinstance(w, (nir.Affine, nir.Linear)) or sum(1 for s, _ in graph.edges if s == src) != 1:
            raise ValueError(f"NIR node {name!r}: its input gain R = {factor.flat[0]:.4g}… must go into the weights "
                             f"feeding it, but {src!r} ({type(w).__name__}) is not a Linear/Affine used only there")
        w.weight = (np.asarray(w.weight, np.float64) * factor.reshape(-1, 1)).astype(np.float32)
        if isinstance(w, nir.Affine):
            w.bias = (np.asarray(w.bias, np.float64) * factor.reshape(-1)).astype(np.float32)


def _rockpool_cuba(graph: nir.NIRGraph, name: str, node: nir.LIF, alpha, gain, dt: float, meta: dict) -> nir.CubaLIF:
    """A LIF (per-step α, gain b at ``dt``) as the CubaLIF Rockpool's from_nir runs alike: τ_mem = −δ/ln α, R with
    min τ_mem/(1+R) = δ, τ_syn = δ/20, and b/β folded into the weights (Rockpool adds β·I to v each step)."""
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)
    tau_mem = f32(-dt / np.log(alpha))
    r = f32(tau_mem.astype(np.float64) / dt - 1)
    tau_syn = f32(np.full_like(alpha, _ONE_STEP_SYN * dt))
    # the step Rockpool recovers from the float32 values it reads, and the β it then runs
    step = float(np.min(tau_mem / (np.float32(1) + r)))
    beta = np.exp(-step / tau_syn.astype(np.float64))
    _fold_into_inputs(graph, name, gain / beta)
    zeros = np.zeros_like(tau_mem)
    return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=r, v_leak=zeros, v_threshold=f32(node.v_threshold),
                       v_reset=zeros, w_in=np.ones_like(tau_mem), metadata={**meta, "reader_dt": step})


#: where each reader keeps the membrane of a never-firing LIF (a membrane readout), for the notes
_MEMBRANE = {"snntorch": "the Leaky module's .mem after each step", "norse": "the .v of its state",
             "spikingjelly": "its LIFNode's .v_seq (set store_v_seq = True)"}


def _recurrence_refusal(graph: nir.NIRGraph, p: Profile) -> list[Refusal]:
    loops = {s for s, d in graph.edges if (d, s) in set(graph.edges)}
    if loops and not p.recurrent:
        return [Refusal(f"the recurrent loop through {', '.join(sorted(loops))}",
                        _RECURRENT_WHY.get(p.name, "it reads no recurrent loops"), "--no-recurrent")]
    return []


def _spike_rule_refusals(name: str, meta: dict, p: Profile, notes: list[str]) -> list[Refusal]:
    """What in a LIF's reset or spike count the reader cannot run; a note for a different tie at θ."""
    out = []
    if meta.get("reset") != p.reset and not (meta.get("reset") == "subtract" and p.subtract_via_synapse):
        how = "to zero" if p.reset == "zero" else "by subtraction"
        out.append(Refusal(name, f"it resets {how}, the model by {meta.get('reset')!r}",
                           neuron_options=(("reset", p.reset),)))
    if ("v > threshold" == meta.get("spike_condition")) != p.strict:
        options = json.dumps({"neuron_options": {"strict": p.strict}})
        notes.append(f"{name}: {p.name} spikes when v {'>' if p.strict else '>='} θ, the model when "
                     f"{meta.get('spike_condition')}: a step landing exactly on θ differs (--model-options "
                     f"'{options}' trains the model to match)")
    spikes = int(meta.get("max_spikes", 1))
    if meta.get("refractory") is not None or (spikes != 1 and p.max_spikes == 1):
        out.append(Refusal(name, "it has no refractory period or multi-spike rule",
                           neuron_options=(("max_spikes", 1),)))
    elif spikes < min(p.max_spikes, MAX_BURST):  # the reader bursts where the model cannot
        cap = "no cap" if p.max_spikes >= 2 ** 31 else f"up to {p.max_spikes}"
        out.append(Refusal(name, f"it emits ⌊v/θ⌋ spikes per step ({cap}), the model at most "
                           f"{spikes}", neuron_options=(("max_spikes", MAX_BURST),)))
    return out


def _layer_refusals(name: str, node, tau: np.ndarray, p: Profile) -> list[Refusal]:
    """What a reader holding one value per layer cannot hold: per-neuron τ (SpikingJelly) or θ."""
    out = []
    if p.name == "spikingjelly" and np.unique(tau).size != 1:
        out.append(Refusal(name, "it holds one τ per layer, the model's differ per neuron (learnt τ)",
                           neuron_options=(("learn_tau", False),)))
    if isinstance(node, nir.LIF) and p.name not in ("norse", "sinabs") and np.unique(node.v_threshold).size != 1:
        out.append(Refusal(name, "it needs one threshold per layer", neuron_options=(("learn_threshold", False),)))
    return out


def _rewrite_leaky(graph: nir.NIRGraph, name: str, node, alpha, gain, dt: float, meta: dict, p: Profile):
    """A LIF or LI node (per-step α, gain b at ``dt``) as the reader runs it alike, b folded into its inputs."""
    step = p.step if p.step is not None else dt
    tau = step / (1 - alpha) if p.decay == "euler" else -step / np.log(alpha)
    reader_gain = 1.0 - alpha if p.r_form == "one" else np.ones_like(alpha)
    _fold_into_inputs(graph, name, gain / reader_gain)
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)
    tau, r = f32(tau), f32(tau.astype(np.float64) / step if p.r_form == "tau" else np.ones_like(alpha))
    meta = {**meta, "profile": p.name, "reader_dt": step}
    zeros = np.zeros_like(tau)
    if isinstance(node, nir.LI):
        if not p.membrane_readout:
            return nir.LI(tau=tau, r=r, v_leak=zeros, metadata=meta)
        return nir.LIF(tau=tau, r=r, v_leak=zeros, v_threshold=np.full_like(tau, NEVER_FIRES), v_reset=zeros,
                       metadata={**meta, "readout": "membrane"})
    if p.subtract_via_synapse and meta.get("reset") == "subtract":
        return nir.CubaLIF(tau_syn=_pass_through_tau(step, tau.shape), tau_mem=tau, r=r, v_leak=zeros,
                           v_threshold=f32(node.v_threshold), v_reset=zeros, w_in=np.ones_like(tau),
                           metadata={**meta, "synapse": "pass-through"})
    node.tau, node.r, node.metadata = tau, r, meta
    return node


def _pass_through_tau(step: float, shape) -> np.ndarray:
    """The float32 τ_syn whose Euler synapse at ``step`` passes each step's input through: Norse's LIBoxCell
    computes step·(1/τ_syn) in float32, which must round to exactly 1."""
    tau = np.float32(step)
    for candidate in (tau, np.nextafter(tau, np.float32(0)), np.nextafter(tau, np.float32(1))):
        inverse = np.float32(1) / candidate
        if np.float32(np.float32(step) * inverse) == np.float32(1):
            return np.full(shape, candidate, np.float32)
    return np.full(shape, tau, np.float32)


def _as_affine(graph: nir.NIRGraph) -> None:
    """Linear nodes as Affine with a zero bias, for a reader that maps only Affine."""
    for name, node in list(graph.nodes.items()):
        if isinstance(node, nir.Linear):
            weight = np.asarray(node.weight, np.float32)
            graph.nodes[name] = nir.Affine(weight=weight, bias=np.zeros(weight.shape[0], np.float32),
                                           metadata=dict(node.metadata or {}))


def apply_profile(graph: nir.NIRGraph, profile: str) -> nir.NIRGraph:
    """``graph`` (a generic adaspike export) rewritten for ``profile`` (see ``PROFILES``). What the reader cannot
    run is one ``ValueError`` naming every part and the ``adaspike train`` options that avoid them."""
    if profile not in PROFILES:
        raise ValueError(PROFILES.unknown(profile))
    p = PROFILES[profile]
    if p is None:
        return graph
    graph = copy.deepcopy(graph)
    notes: list[str] = []
    refusals = _recurrence_refusal(graph, p)
    neurons = (nir.LIF, nir.IF, nir.CubaLIF, nir.LI)
    for name, node in list(graph.nodes.items()):
        if isinstance(node, nir.NIRGraph):
            raise ValueError(f"nested NIR graphs are not rewritten for {profile}")
        if isinstance(node, (nir.Input, nir.Output, nir.Affine, nir.Linear)):
            continue
        if not isinstance(node, neurons) and p.stateless is not None and not isinstance(node, p.stateless):
            refusals.append(Refusal(name, f"it has no {type(node).__name__} node (it reads "
                                    f"{', '.join(t.__name__ for t in p.stateless)} and neurons only)"))
            continue
        if isinstance(node, nir.Flatten):
            if CONVENTIONS[p.convention].flatten_counts_batch:  # the reader's torch Flatten sees [B, ...]
                start, end = int(node.start_dim), int(node.end_dim)
                node.start_dim, node.end_dim = start + 1 if start >= 0 else start, end + 1 if end >= 0 else end
            continue
        if not isinstance(node, neurons):
            continue  # stateless nodes pass as they are; the reader's own errors name what it lacks
        if not isinstance(node, p.nodes):
            reason, flag = _WHY_PROFILE.get((profile, type(node)), _WHY[type(node)])
            refusals.append(Refusal(name, f"it {reason}", flag))
            continue
        meta = _meta(node)
        dt, method = float(meta["dt"]), str(meta["discretisation"])
        found = _spike_rule_refusals(name, meta, p, notes) if isinstance(node, nir.LIF) else []
        alpha, gain = leaky_step(node.tau, node.r, dt, method)
        found += _layer_refusals(name, node, np.asarray(node.tau), p)
        refusals += found
        if found:
            continue
        if p.r_form == "rockpool":
            graph.nodes[name] = _rockpool_cuba(graph, name, node, alpha, gain, dt, {**meta, "profile": profile})
            continue
        graph.nodes[name] = _rewrite_leaky(graph, name, node, alpha, gain, dt, meta, p)
        if isinstance(node, nir.LI) and p.membrane_readout:
            notes.append(f"{name}: the leaky-integrator readout is a LIF that never fires (threshold "
                         f"{NEVER_FIRES:g}): read its membrane, {_MEMBRANE[profile]}")
    if refusals:
        raise refusal_error(p, refusals)
    if p.affine_only:
        _as_affine(graph)
    if graph.metadata.get("time_reduce"):
        notes.append(f"the model's time reduction ({graph.metadata['time_reduce']}) is not a NIR node: "
                     f"{profile} returns the per-step output; take its {graph.metadata['time_reduce']} over time")
    if p.note:
        notes.append(p.note)
    call = p.reader
    if any(isinstance(n, nir.CubaLIF) and _meta(n).get("synapse") == "pass-through" for n in graph.nodes.values()):
        graph.metadata = {**graph.metadata, "reset_method": "subtract"}
        notes.append("its reset-by-subtraction LIF layers are written as CubaLIF with a pass-through synapse "
                     "(τ_syn = dt), the node Norse's from_nir gives a reset_method")
        call = call.replace("dt=...)", "dt=..., reset_method=norse.torch.functional.reset.reset_subtract)")
    if p.step is None and p.r_form != "rockpool":  # Rockpool reads its step from the file
        dts = {float(_meta(n)["dt"]) for n in graph.nodes.values() if "dt" in _meta(n)}
        notes.append(f"run it with {call.replace('...', ', '.join(f'{d:g}' for d in sorted(dts)), 1)}")
    graph.metadata = {**graph.metadata, "profile": profile}
    for note in notes:
        warnings.warn(f"NIR export for {profile}: {note}", stacklevel=3)
    return graph
