"""Random scan problems shared by the CPU and GPU equivalence tests (not a test module itself)."""
from __future__ import annotations

import torch
from hypothesis import strategies as st

from adaspike.core import Arctan, BinarySpike, BurstSpike, DiscreteSSM, FastSigmoid, NeuronState, Sigmoid, Triangle, scan

SURROGATES = (FastSigmoid(), Arctan(), Sigmoid(), Triangle(slope=0.7))


@st.composite
def problems(draw):
    """A random neuron (n = 1 or 2), options, shapes and seed."""
    n = draw(st.sampled_from([1, 2]))
    return dict(
        n=n,
        mem=draw(st.integers(0, n - 1)),
        T=draw(st.integers(1, 12)),
        batch=draw(st.integers(1, 3)),
        feat=draw(st.sampled_from([(1,), (5,), (2, 3), (4, 1, 2)])),
        per_neuron=draw(st.booleans()),
        time_varying=draw(st.booleans()),
        reset=draw(st.sampled_from(["subtract", "zero", "none"])),
        detach=draw(st.booleans()),
        surrogate=draw(st.sampled_from(SURROGATES)),
        strict=draw(st.booleans()),
        burst=draw(st.sampled_from([1, 1, 2, 3])),
        with_state=draw(st.booleans()),
        return_states=draw(st.booleans()),
        recurrent=draw(st.booleans()),
        seed=draw(st.integers(0, 2**16)),
    )


@st.composite
def refractory_problems(draw):
    """``problems`` with a refractory spike rule (k blocked steps) and, optionally, a nonzero initial counter."""
    p = draw(problems())
    p["refractory"] = draw(st.sampled_from([1, 2, 3]))
    p["with_counter"] = draw(st.booleans())
    return p


def initial_counter(p: dict, dtype=torch.float64, device="cpu") -> torch.Tensor | None:
    """The initial blocked-steps counter of a refractory problem with ``with_counter`` (values 0..k+1), else None."""
    k = p.get("refractory", 0)
    if not k or not p.get("with_counter") or not p["with_state"]:
        return None
    g = torch.Generator().manual_seed(p["seed"] + 1)
    return torch.randint(0, k + 2, (p["batch"], *p["feat"]), generator=g).to(dtype).to(device)


def build(p: dict, dtype=torch.float64, device="cpu"):
    """Leaf tensors (parameters in float64, as the layers make them) and the scan keyword arguments."""
    g = torch.Generator().manual_seed(p["seed"])
    n, T, feat = p["n"], p["T"], p["feat"]
    pshape = feat if p["per_neuron"] else ()
    rand = lambda *s: torch.rand(s, generator=g, dtype=torch.float64)
    lead = (T,) if p["time_varying"] else ()
    H = 0.4 * torch.eye(n, dtype=torch.float64) + 0.5 * rand(*lead, *pshape, n, n) * (
        torch.eye(n, dtype=torch.float64) + 0.3)
    leaves = dict(H=H, B=0.5 + rand(*lead, *pshape, n), kick_reset=-rand(*pshape, n),
                  kick_spike=0.3 * rand(*pshape, n), threshold=0.5 + rand(*pshape))
    leaves = {k: v.requires_grad_(True) for k, v in leaves.items()}
    batch = p["batch"]
    if p["recurrent"] and len(feat) == 1:
        leaves["V"] = (0.6 * torch.randn(feat[0], feat[0], generator=g, dtype=torch.float64)).requires_grad_(True)
    leaves["current"] = (1.5 * torch.randn(T, batch, *feat, generator=g, dtype=torch.float64)).to(dtype).requires_grad_(True)
    if p["with_state"]:
        leaves["x0"] = (0.5 * torch.randn(batch, *feat, n, generator=g, dtype=torch.float64)).to(dtype).requires_grad_(True)
        leaves["s0"] = (torch.rand(batch, *feat, generator=g) < 0.3).to(dtype).requires_grad_(True)
    weights = [torch.randn(T, batch, *feat, generator=g, dtype=torch.float64).to(dtype),
               torch.randn(T, batch, *feat, n, generator=g, dtype=torch.float64).to(dtype),
               torch.randn(batch, *feat, n, generator=g, dtype=torch.float64).to(dtype),
               torch.randn(batch, *feat, generator=g, dtype=torch.float64).to(dtype)]
    leaves = {k: v.to(device).detach().requires_grad_(True) for k, v in leaves.items()}
    if "V" in leaves:  # the recurrent weight lives in the current's dtype, like a layer's parameter
        leaves["V"] = leaves["V"].detach().to(dtype).requires_grad_(True)
    return leaves, [w.to(device) for w in weights]


def run(p: dict, leaves: dict, weights: list, backend: str):
    """Spikes, the states trace and the gradients of a loss touching every output."""
    ssm = DiscreteSSM(H=leaves["H"], B=leaves["B"], kick_reset=leaves["kick_reset"],
                      kick_spike=leaves["kick_spike"], threshold=leaves["threshold"], mem_index=p["mem"],
                      time_varying=p["time_varying"])
    k = p.get("refractory", 0)
    spike_fn = (BurstSpike(p["burst"], p["surrogate"], p["strict"], refractory=k) if p["burst"] > 1
                else BinarySpike(p["surrogate"], p["strict"], refractory=k))
    counter = p.get("counter")
    if counter is None:
        counter = initial_counter(p, leaves["current"].dtype, leaves["current"].device)
    state = NeuronState(leaves["x0"], leaves["s0"], counter) if p["with_state"] else None
    out = scan(leaves["current"], ssm, reset=p["reset"], detach_reset=p["detach"], spike_fn=spike_fn, state=state,
               return_states=p["return_states"], recurrent_weight=leaves.get("V"), backend=backend)
    loss = (out.spikes * weights[0]).sum() + (out.final.x * weights[2]).sum() + (out.final.s * weights[3]).sum()
    if p["return_states"]:
        loss = loss + 0.1 * (out.states * weights[1]).sum()
    names = sorted(leaves)
    grads = torch.autograd.grad(loss, [leaves[k] for k in names], allow_unused=True)
    grads = {k: (torch.zeros_like(leaves[k]) if gr is None else gr) for k, gr in zip(names, grads)}
    return out, grads


def assert_equivalent(p: dict, dtype=torch.float64, device="cpu", backend="numba"):
    leaves, weights = build(p, dtype, device)
    ref, g_ref = run(p, leaves, weights, "reference")
    fast, g_fast = run(p, leaves, weights, backend)
    assert torch.equal(ref.spikes, fast.spikes), "spikes differ"
    tol = dict(rtol=1e-9, atol=1e-9) if dtype == torch.float64 else dict(rtol=2e-4, atol=2e-4)
    if p["return_states"]:
        torch.testing.assert_close(fast.states, ref.states, rtol=0, atol=0)
    torch.testing.assert_close(fast.final.x, ref.final.x, rtol=0, atol=0)
    torch.testing.assert_close(fast.final.s, ref.final.s, rtol=0, atol=0)
    if ref.final.refractory is None:
        assert fast.final.refractory is None, "a blocked-steps counter appeared"
    else:
        torch.testing.assert_close(fast.final.refractory, ref.final.refractory, rtol=0, atol=0)
    for name in g_ref:
        scale = max(1.0, float(g_ref[name].abs().max()))
        torch.testing.assert_close(g_fast[name] / scale, g_ref[name] / scale, **tol, msg=lambda m: f"{name}: {m}")


def assert_inference_equivalent(p: dict, dtype=torch.float64, device="cpu", backend="numba"):
    """Without gradients and without the states trace (the path that keeps no trace), the fast backend's
    spikes and final state equal the reference's bit for bit."""
    leaves, _ = build(p, dtype, device)
    outs = []
    with torch.no_grad():
        for name in ("reference", backend):
            ssm = DiscreteSSM(H=leaves["H"], B=leaves["B"], kick_reset=leaves["kick_reset"],
                              kick_spike=leaves["kick_spike"], threshold=leaves["threshold"], mem_index=p["mem"],
                              time_varying=p["time_varying"])
            spike_fn = (BurstSpike(p["burst"], p["surrogate"], p["strict"]) if p["burst"] > 1
                        else BinarySpike(p["surrogate"], p["strict"]))
            state = NeuronState(leaves["x0"], leaves["s0"]) if p["with_state"] else None
            outs.append(scan(leaves["current"], ssm, reset=p["reset"], detach_reset=p["detach"], spike_fn=spike_fn,
                             state=state, recurrent_weight=leaves.get("V"), backend=name))
    ref, fast = outs
    assert fast.states is None
    assert torch.equal(ref.spikes, fast.spikes), "spikes differ"
    assert torch.equal(ref.final.x, fast.final.x), "final state differs"
    assert torch.equal(ref.final.s, fast.final.s), "final spikes differ"
