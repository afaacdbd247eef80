"""Per-layer choice under an additive budget: the exact Pareto-frontier DP, and the two searches built on it.

Problem: pick one candidate g_i per layer i to minimise Σ_i obj[g_i][i] subject to Σ_i cost[g_i][i] ≤ budget.
The DP keeps, after each layer, only partial choices that are Pareto-optimal in (cost, obj); partial
choices over budget are dropped, which is exact when costs are non-negative. The choice list is built in
layer order (the reference's SSC path returned it reversed; conversion spec §9.1).

* AdaFire (§5): obj = sensitivity S[Γ][i] (symmetric KL to the ANN), cost = spike count C[Γ][i],
  budget = η·Σ_i C[Γ_target][i], the row looked up by candidate *value* (conversion spec §9.2).
* SSC (§6): obj = spike count E[r][i], cost = S[r][i], budget = τ_KL·Σ_i S[1.0][i].
"""
from __future__ import annotations

import itertools
from typing import Sequence

import torch
import torch.nn.functional as F

from .progress import tick


def symmetric_kl(ann_logits: torch.Tensor, snn_logits: torch.Tensor) -> float:
    """Batch mean of ½[KL(p‖q) + KL(q‖p)], from log-softmax so saturated logits stay finite (§9.3)."""
    lp = F.log_softmax(ann_logits.double(), dim=1)
    lq = F.log_softmax(snn_logits.double(), dim=1)
    kl = 0.5 * ((lp.exp() * (lp - lq)).sum(1) + (lq.exp() * (lq - lp)).sum(1))
    tick()              # one sensitivity-table run done: advances convert's stage bar (convert.progress)
    return float(kl.mean())


def pareto_dp(obj: Sequence[Sequence[float]], cost: Sequence[Sequence[float]], candidates: Sequence,
              budget: float) -> list | None:
    """Exact minimiser of Σ obj under Σ cost ≤ budget; ``obj[k][i]``/``cost[k][i]`` for candidate k, layer i.

    Returns the chosen candidate per layer in layer order, or None when nothing fits the budget.
    Costs must be non-negative (budget pruning is only exact then).
    """
    n_layers = len(obj[0]) if len(obj) else 0
    if any(c < 0 for row in cost for c in row):
        raise ValueError("pareto_dp needs non-negative costs; use brute_force for signed costs")
    front: list[tuple[float, float, tuple]] = [(0.0, 0.0, ())]
    for i in range(n_layers):
        cand = [(c + cost[k][i], o + obj[k][i], ch + (k,)) for c, o, ch in front for k in range(len(candidates))]
        cand = [n for n in cand if n[0] <= budget]
        cand.sort(key=lambda n: (n[0], n[1]))
        front, best_obj = [], float("inf")
        for node in cand:
            if node[1] < best_obj:           # strictly better than every cheaper node kept so far
                front.append(node)
                best_obj = node[1]
        if not front:
            return None
    best = min(front, key=lambda n: n[1])
    return [candidates[k] for k in best[2]]


def brute_force(obj, cost, candidates, budget: float) -> list | None:
    """Reference solver: enumerate every assignment (small problems only); ties go to the lowest cost."""
    n_layers = len(obj[0])
    best, best_key = None, None
    for choice in itertools.product(range(len(candidates)), repeat=n_layers):
        c = sum(cost[k][i] for i, k in enumerate(choice))
        if c > budget:
            continue
        key = (sum(obj[k][i] for i, k in enumerate(choice)), c)
        if best_key is None or key < best_key:
            best, best_key = choice, key
    return None if best is None else [candidates[k] for k in best]


def objective(choice: Sequence, obj, cost, candidates) -> tuple[float, float]:
    """(Σ obj, Σ cost) of a per-layer choice of candidate values."""
    ks = [list(candidates).index(g) for g in choice]
    return (sum(obj[k][i] for i, k in enumerate(ks)), sum(cost[k][i] for i, k in enumerate(ks)))
