"""Rerun a converted SNN from one layer on: the layer-wise searches change one neuron at a time.

The Γ (AdaFire) and threshold-ratio (SSC) searches run the SNN once per (layer, candidate) on the same batch,
changing only neuron i. Everything upstream of neuron i is then the same in every run, so ``LayerReplay``
records, in one base run, the value of each graph node that a layer's downstream part reads from outside it
(neuron inputs, skip connections), once per graph call (per step for the step runner). ``run_from(i)`` feeds
those values back through ``torch.fx.Interpreter``'s partial evaluation and computes only the nodes downstream
of neuron i. Same modules, same inputs, same order: logits and spike counts are bit-identical to a full
``snn.run`` (tests/convert/test_convert_fast.py). Upstream neurons do not run, so their statistics stay empty.

It falls back to full runs when the network is not an fx graph (the module-replacement fallback), when the
graph has in-place operations (a recorded value could be overwritten) or when the records would exceed
``max_cache_bytes``.
"""
from __future__ import annotations

import operator

import torch
from torch import fx

from .snn import ConvertedSNN, SNNRun

MAX_CACHE_BYTES = 2 << 30

_INPLACE_FUNCTIONS = {operator.iadd, operator.isub, operator.imul, operator.itruediv, operator.ifloordiv,
                      operator.imod, operator.ipow, operator.iand, operator.ior, operator.ixor, operator.setitem}


def _has_inplace(gm: fx.GraphModule) -> bool:
    for node in gm.graph.nodes:
        if node.op == "call_function" and (node.target in _INPLACE_FUNCTIONS or node.kwargs.get("inplace")):
            return True
        if node.op == "call_method" and str(node.target).endswith("_"):
            return True
        if node.op == "call_module" and getattr(gm.get_submodule(node.target), "inplace", False):
            return True
    return False


class _Recorder(fx.Interpreter):
    """Interpreter that keeps the values of the nodes in ``keep`` (into ``self.record`` when it is a dict)."""

    def __init__(self, gm: fx.GraphModule, keep: set):
        super().__init__(gm)
        self.keep = keep
        self.record: dict | None = None

    def run_node(self, n: fx.Node):
        out = super().run_node(n)
        if self.record is not None and n in self.keep:
            self.record[n] = out
        return out


class LayerReplay:
    """One base run of ``snn`` on ``x`` (``self.base``) and cheap reruns from any neuron on (``run_from``)."""

    def __init__(self, snn: ConvertedSNN, x: torch.Tensor, T: int, max_cache_bytes: int = MAX_CACHE_BYTES,
                 enabled: bool = True):
        self.snn, self.x, self.T = snn, x, int(T)
        self.max_cache_bytes = int(max_cache_bytes)
        self.records: list[dict] | None = None
        self._plans: list[tuple[set, set]] = []
        gm = snn.graph_module
        if enabled and snn.traced and isinstance(gm, fx.GraphModule) and not _has_inplace(gm):
            self._plan(gm)
        self.base = self._record() if self._plans else snn.run(x, T)

    # -- which nodes each rerun computes and which it reads -----------------------------------------------
    def _plan(self, gm: fx.GraphModule) -> None:
        where = {}
        for node in gm.graph.nodes:
            if node.op == "call_module":
                where[id(gm.get_submodule(node.target))] = node
        nodes = list(gm.graph.nodes)
        for neuron in self.snn.neurons:
            start = where.get(id(neuron))
            if start is None:               # a neuron the graph does not call directly: no replay
                self._plans = []
                return
            down = {start}
            for node in nodes[nodes.index(start) + 1:]:        # topological order
                if any(a in down for a in node.all_input_nodes):
                    down.add(node)
            frontier = {a for node in down for a in node.all_input_nodes if a not in down}
            if nodes[-1] not in down:      # a neuron that does not reach the output: no replay
                self._plans = []
                return
            self._plans.append((down, frontier))
        self._keep = set().union(*(f for _, f in self._plans))
        self._interp = _Recorder(gm, self._keep)

    def _record(self) -> SNNRun:
        records: list[dict] = []
        size = 0

        def call(inp):
            nonlocal size
            self._interp.record = {}
            try:
                out = self._interp.run(inp)
            finally:
                rec, self._interp.record = self._interp.record, None
            size += sum(v.numel() * v.element_size() for v in rec.values() if isinstance(v, torch.Tensor))
            records.append(rec if size <= self.max_cache_bytes else {})
            return out

        base = self._with_call(call)
        if size > self.max_cache_bytes:
            self._plans = []            # too big to keep: reruns run the whole network
        else:
            self.records = records
        return base

    def _with_call(self, call) -> SNNRun:
        self.snn.graph_call = call
        try:
            return self.snn.run(self.x, self.T)
        finally:
            self.snn.graph_call = None

    # -- reruns ------------------------------------------------------------------------------------------
    def run_from(self, index: int, refresh: bool = False) -> SNNRun:
        """The SNN's run on ``x`` after a change to neuron ``index`` (and nothing upstream of it).

        ``refresh`` keeps the change: the recorded values this run recomputes replace the old ones, so later
        reruns start from the network as it is now (bias correction changes the layers one after another).
        """
        if not self._plans:
            return self.snn.run(self.x, self.T)
        down, frontier = self._plans[index]
        calls = iter(self.records)
        skip = [n for n in self._interp.graph.nodes if n not in down and n not in frontier]

        def call(inp):
            rec = next(calls)
            env = dict.fromkeys(skip)
            env.update((n, rec[n]) for n in frontier)
            self._interp.record = rec if refresh else None
            try:
                return self._interp.run(inp, initial_env=env)
            finally:
                self._interp.record = None

        return self._with_call(call)


__all__ = ["LayerReplay", "MAX_CACHE_BYTES"]
