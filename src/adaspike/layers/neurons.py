"""Neuron layers: thin nn.Module wrappers that build a DiscreteSSM at their ``dt`` and call the core scan.

Every layer takes currents [T, B, *F] and returns spikes [T, B, *F]. State is explicit: pass ``state`` in and
ask for it back with ``return_state=True``; nothing is remembered between calls.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..core.clock import active_clock, constant_step, layer_steps, substep_plan
from ..core.neurons import AdLIFParams, CubaLIFParams, IFParams, LIFParams, adlif_discrete, decay_from_tau
from ..core.multistep import NeuronState, ScanOutput, check_time_major, scan
from ..core.registry import Registry
from ..core.spikes import check_refractory_period, check_reset, rule_for_step, rule_for_steps
from ..core.ssm import DISCRETISATIONS, DiscreteSSM
from ..core.surrogates import Surrogate, get_surrogate
from ..core.units import DEFAULT_DT, check_dt, parse_time
from .bounded import Bounded
from .discretisation_cache import layer_ssm

NEURONS: Registry[type] = Registry("neuron")


def register_neuron(name: str, *aliases: str):
    """Class decorator: make a neuron layer buildable by name (``make_neuron``, the CLI's ``--neuron``, checkpoints).

    A new linear neuron model is its parameter class in ``core.neurons`` plus its layer here: the scan kernels
    (state size ≤ 2), retime and the CLI take it from its SSM and this registry, with no list to edit. Its
    ``ssm(dt)`` takes ``dt`` as None (its own step), a float or a tensor of step lengths, which
    ``Params(...).discretise(self.dt if dt is None else dt)`` handles for any clock.
    """

    def wrap(cls):
        NEURONS.add(name, cls, *aliases)
        cls.registered_name = name
        return cls

    return wrap


def registered_neurons() -> list[str]:
    """The registered neuron names, without aliases (for ``--neuron`` choices)."""
    return sorted(NEURONS.names())

Shape = int | Sequence[int]


def _shape(shape: Shape) -> tuple[int, ...]:
    return (int(shape),) if isinstance(shape, int) else tuple(int(s) for s in shape)


class NeuronLayer(nn.Module):
    """Shared machinery: threshold, reset, spike rule, discretisation and the call into ``scan``.

    Subclasses implement ``ssm(dt=None) -> DiscreteSSM``.
    """

    def __init__(self, shape: Shape = (), *, dt: float = DEFAULT_DT, method: str = "zoh", threshold: float = 1.0,
                 learn_threshold: bool = False, reset: str = "subtract", detach_reset: bool = False,
                 surrogate: str | Surrogate = "fast_sigmoid", max_spikes: int = 1, strict: bool = False,
                 refractory: float | None = None, backend: str = "auto"):
        super().__init__()
        if method not in DISCRETISATIONS:
            raise ValueError(f"unknown discretisation {method!r}; choose one of {DISCRETISATIONS}")
        self.shape = _shape(shape)
        self.dt = parse_time(dt)  # the one dt owner: units, bounds, implausible-value warning
        self.method = method
        self.reset = check_reset(reset)
        self.detach_reset = bool(detach_reset)
        self.surrogate = get_surrogate(surrogate)
        self.max_spikes = int(max_spikes)
        self.strict = bool(strict)
        # spike rule in seconds: at most max_spikes per `refractory` s (None: per step, the plain rule)
        self.refractory = check_refractory_period(refractory)
        self.backend = backend
        if threshold <= 0:
            raise ValueError(f"threshold must be > 0, got {threshold}")
        self.threshold = Bounded(threshold, 1e-3, 1e3, self.shape, log=True, learnable=learn_threshold)

    @property
    def spike_fn(self):
        return rule_for_step(self.dt, self.refractory, max_spikes=self.max_spikes, surrogate=self.surrogate,
                             strict=self.strict)

    def ssm(self, dt=None) -> DiscreteSSM:  # pragma: no cover - abstract
        """The per-step form at ``dt``: None (the layer's own step), a float, or step lengths [T] / [T, B]."""
        raise NotImplementedError

    def run(self, current: torch.Tensor, state: NeuronState | None = None, return_states: bool = False,
            ssm: DiscreteSSM | None = None, recurrent_weight: torch.Tensor | None = None, dt=None) -> ScanOutput:
        """Full scan output (spikes, optional state trace, final state).

        ``dt``: the step lengths to run at (a float, or a tensor [T] or [T, B] of seconds); default: the active
        clock (``adaspike.core.clock``), else the layer's own ``dt``. Off its own step the layer discretises its
        continuous model at each step, keeps its spike rule in seconds (see :meth:`rule_on`) and scales its
        recurrent input, an event count, by its own dt over each step length.
        """
        check_time_major(current, self.shape, f"{type(self).__name__}({', '.join(map(str, self.shape))}) input",
                         check_finite=False)
        steps = layer_steps(dt, current) if ssm is None else None
        if steps is not None:
            const = constant_step(steps)
            if const is not None and const == self.dt:
                steps = None  # the layer's own clock: the fixed-step path, bit for bit
        active = active_clock()
        if steps is not None and active is not None and active.substeps:
            substepped = run_in_substeps(self, current, steps, state, return_states, recurrent_weight)
            if substepped is not None:
                return substepped
        if steps is None:
            return scan(current, ssm if ssm is not None else layer_ssm(self, current), reset=self.reset,
                        detach_reset=self.detach_reset, spike_fn=self.spike_fn, state=state,
                        recurrent_weight=recurrent_weight, return_states=return_states, backend=self.backend)
        const = constant_step(steps)
        scale = None
        if recurrent_weight is not None:
            if const is not None:  # one scale for every step: on the weight, as retime scales it
                recurrent_weight = recurrent_weight * (self.dt / const)
            else:
                scale = self.dt / steps
        return scan(current, self.ssm(dt=const if const is not None else steps), reset=self.reset,
                    detach_reset=self.detach_reset, spike_fn=self.rule_on(steps), state=state,
                    recurrent_weight=recurrent_weight, return_states=return_states, backend=self.backend,
                    recurrent_scale=scale)

    def rule_on(self, steps):
        """The spike rule on a clock: the rule in seconds (``refractory``, else one spike per own ``dt``
        seconds) resolved for ``steps``; under a clock with ``spike_rule="steps"`` the plain per-step rule."""
        active = active_clock()
        period = self.refractory
        if period is None and (active is None or active.spike_rule == "seconds"):
            period = self.dt
        return rule_for_steps(steps, period, max_spikes=self.max_spikes, surrogate=self.surrogate,
                              strict=self.strict)

    def forward(self, current: torch.Tensor, state: NeuronState | None = None, return_state: bool = False,
                recurrent_weight: torch.Tensor | None = None, dt=None):
        out = self.run(current, state, recurrent_weight=recurrent_weight, dt=dt)
        return (out.spikes, out.final) if return_state else out.spikes

    def extra_repr(self) -> str:
        return (f"shape={self.shape}, dt={self.dt:g}s, method={self.method}, reset={self.reset}"
                + (f", max_spikes={self.max_spikes}" if self.max_spikes > 1 else "")
                + (f", refractory={self.refractory:g}s" if self.refractory is not None else ""))


@register_neuron("if")
class IF(NeuronLayer):
    """Integrate-and-fire, dv/dt = gain·I; by default gain = 1/dt so one step adds I (the conversion IF)."""

    def __init__(self, shape: Shape = (), *, gain: float | None = None, **kw):
        super().__init__(shape, **kw)
        self.register_buffer("gain", torch.full(self.shape, gain if gain is not None else 1.0 / self.dt))

    def ssm(self, dt=None):
        return IFParams(gain=self.gain, threshold=self.threshold()).discretise(self.dt if dt is None else dt, self.method)


@register_neuron("lif")
class LIF(NeuronLayer):
    """Leaky integrate-and-fire, τ dv/dt = −v + r·I, τ learnable in ``tau_range`` seconds.

    Under ZOH the per-step decay is α = exp(−dt/τ) with gain r(1 − α).
    """

    def __init__(self, shape: Shape = (), *, tau: float = 20e-3, tau_range=(1e-3, 1.0), learn_tau: bool = True,
                 r: float = 1.0, **kw):
        super().__init__(shape, **kw)
        self.tau = Bounded(tau, *tau_range, shape=self.shape, log=True, learnable=learn_tau)
        self.register_buffer("r", torch.full(self.shape, float(r)))

    def ssm(self, dt=None):
        return LIFParams(tau=self.tau(), threshold=self.threshold(), r=self.r).discretise(self.dt if dt is None else dt, self.method)


@register_neuron("cuba", "cubalif")
class CubaLIF(NeuronLayer):
    """Current-based LIF: τ_syn di/dt = −i + I; τ_mem dv/dt = −v + r·i (state [i, v])."""

    def __init__(self, shape: Shape = (), *, tau_syn: float = 5e-3, tau_mem: float = 20e-3,
                 tau_range=(1e-3, 1.0), learn_tau: bool = True, r: float = 1.0, **kw):
        super().__init__(shape, **kw)
        self.tau_syn = Bounded(tau_syn, *tau_range, shape=self.shape, log=True, learnable=learn_tau)
        self.tau_mem = Bounded(tau_mem, *tau_range, shape=self.shape, log=True, learnable=learn_tau)
        self.register_buffer("r", torch.full(self.shape, float(r)))

    def ssm(self, dt=None):
        params = CubaLIFParams(tau_syn=self.tau_syn(), tau_mem=self.tau_mem(), threshold=self.threshold(), r=self.r)
        return params.discretise(self.dt if dt is None else dt, self.method)


@register_neuron("adlif")
class AdLIF(NeuronLayer):
    """Adaptive LIF (Bittar & Garner): τ_u du/dt = −u + I − w; τ_w dw/dt = −w + a·u; spike: w += b.

    ``parameterisation="discrete"`` learns (α, β, a, b) per step at ``dt`` within sparch's ranges instead.
    """

    def __init__(self, shape: Shape = (), *, tau_u: float = 20e-3, tau_w: float = 150e-3,
                 tau_u_range=(5e-3, 25e-3), tau_w_range=(30e-3, 300e-3), a: float = 0.5, a_range=(-1.0, 1.0),
                 b: float = 1.0, b_range=(0.0, 2.0), parameterisation: str = "continuous", **kw):
        super().__init__(shape, **kw)
        self.parameterisation = _check_param(parameterisation)
        self.tau_u = Bounded(tau_u, *tau_u_range, shape=self.shape, log=True)
        self.tau_w = Bounded(tau_w, *tau_w_range, shape=self.shape, log=True)
        self.a = Bounded(a, *a_range, shape=self.shape)
        self.b = Bounded(b, *b_range, shape=self.shape)

    def ssm(self, dt=None):
        if self.parameterisation == "discrete":
            # the learned (α, β, a, b) are per-step values at the layer's own dt: another dt has no meaning here
            if dt is not None and (isinstance(dt, torch.Tensor) or float(dt) != float(self.dt)):
                shown = "irregular steps" if isinstance(dt, torch.Tensor) else f"{float(dt):g} s"
                raise ValueError(f"a discrete-parameterised AdLIF is defined at its own dt ({self.dt:g} s) and "
                                 f"cannot run at {shown}; retime the model (adaspike retime) or train "
                                 f"with parameterisation='continuous'")
            alpha, beta = decay_from_tau(self.tau_u(), self.dt), decay_from_tau(self.tau_w(), self.dt)
            return adlif_discrete(alpha, beta, self.a(), self.b(), self.threshold(), dt=self.dt)
        params = AdLIFParams(tau_u=self.tau_u(), tau_w=self.tau_w(), a=self.a(), b=self.b(),
                             threshold=self.threshold())
        return params.discretise(self.dt if dt is None else dt, self.method)


def run_in_substeps(layer, current: torch.Tensor, steps, state: NeuronState | None, return_states: bool,
                    recurrent_weight: torch.Tensor | None) -> ScanOutput | None:
    """``layer.run`` on a clock whose steps are longer than ``layer.dt``, each step in sub-steps of at most
    ``layer.dt`` with its drive held (``core.clock.substep_plan``); None when no step is longer. Spikes come back
    summed per step (counts), states at each step's end. Per-sample clocks ([T, B]) run one sample at a time."""
    if isinstance(steps, torch.Tensor) and steps.dim() == 2:
        plans = [substep_plan(steps[:, b], layer.dt) for b in range(steps.shape[1])]
        if all(p is None for p in plans):
            return None
        outs = []
        for b in range(steps.shape[1]):
            part = None if state is None else NeuronState(
                state.x[b:b + 1], state.s[b:b + 1], None if state.refractory is None else state.refractory[b:b + 1])
            outs.append(run_in_substeps(layer, current[:, b:b + 1], steps[:, b], part, return_states,
                                        recurrent_weight)
                        or layer.run(current[:, b:b + 1], part, return_states, recurrent_weight=recurrent_weight,
                                     dt=steps[:, b]))
        blocked = [o.final.refractory for o in outs]
        final = NeuronState(torch.cat([o.final.x for o in outs]), torch.cat([o.final.s for o in outs]),
                            None if any(r is None for r in blocked) else torch.cat(blocked))
        return ScanOutput(torch.cat([o.spikes for o in outs], dim=1),
                          torch.cat([o.states for o in outs], dim=1) if return_states else None, final)
    plan = substep_plan(steps, layer.dt)
    if plan is None:
        return None
    k, sub = plan
    T = current.shape[0]
    if k.numel() == 1:
        k = k.expand(T)
        sub = sub.repeat(T)
    fine = torch.repeat_interleave(current, k.to(current.device), dim=0)
    out = layer.run(fine, state, return_states, recurrent_weight=recurrent_weight, dt=sub)
    groups = torch.repeat_interleave(torch.arange(T, device=current.device), k.to(current.device))
    spikes = out.spikes.new_zeros((T, *out.spikes.shape[1:])).index_add_(0, groups, out.spikes)
    ends = (torch.cumsum(k, 0) - 1).to(current.device)
    return ScanOutput(spikes, out.states[ends] if return_states else None, out.final)


class FrozenSSM:
    """Mixin for modules that hold a fixed per-step form (H, B, K_reset, K_spike, θ) as float64 buffers."""

    def _freeze(self, ssm: DiscreteSSM) -> None:
        self.dt, self.mem_index, self.origin = float(ssm.dt), ssm.mem_index, ssm.method
        for name in ("H", "B", "kick_reset", "kick_spike", "threshold"):
            self.register_buffer(name, getattr(ssm, name).detach().to(torch.float64).clone())

    def ssm(self, dt=None):
        """The held per-step form; at other step lengths, its exact ZOH change of step
        (:meth:`~adaspike.core.ssm.DiscreteSSM.restep`)."""
        own = DiscreteSSM(H=self.H, B=self.B, kick_reset=self.kick_reset, kick_spike=self.kick_spike,
                          threshold=self.threshold, mem_index=self.mem_index, dt=self.dt, method=self.origin)
        if dt is None or (not isinstance(dt, torch.Tensor) and float(dt) == self.dt):
            return own
        return own.restep(dt)


class SSMNeuron(FrozenSSM, NeuronLayer):
    """Generic per-step neuron holding (H, B, K_reset, K_spike, θ) as buffers: the home of retimed neurons."""

    def __init__(self, ssm: DiscreteSSM, **kw):
        kw.setdefault("threshold", 1.0)
        super().__init__(tuple(ssm.param_shape), dt=ssm.dt, **kw)
        del self.threshold
        self._freeze(ssm)

    @classmethod
    def from_layer(cls, layer: NeuronLayer, ssm: DiscreteSSM | None = None) -> "SSMNeuron":
        """Freeze a layer's current per-step form, keeping its reset and spike options."""
        return cls(ssm if ssm is not None else layer.ssm(), reset=layer.reset, detach_reset=layer.detach_reset,
                   surrogate=layer.surrogate, max_spikes=layer.max_spikes, strict=layer.strict,
                   refractory=getattr(layer, "refractory", None), backend=layer.backend)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", state_size={self.H.shape[-1]}, origin={self.origin}"


def _check_param(parameterisation: str) -> str:
    if parameterisation not in ("continuous", "discrete"):
        raise ValueError(f"parameterisation must be 'continuous' or 'discrete', got {parameterisation!r}")
    return parameterisation


def make_neuron(kind: str, shape: Shape, **kw) -> NeuronLayer:
    """Build a registered neuron layer by name (``NEURONS``: ``if``, ``lif``, ``cuba``/``cubalif``, ``adlif``, ...)."""
    return NEURONS[kind.lower()](shape, **kw)
