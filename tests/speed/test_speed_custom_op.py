"""The fused scan is a torch.library custom op: schema, fake tensors, autograd and torch.compile all hold."""
from __future__ import annotations

import pytest
import torch

pytest.importorskip("numba")

from adaspike.core.backends import fused, numba_backend  # noqa: E402
from adaspike.layers import LIF, AdLIF  # noqa: E402


def _op_args(n: int, burst: int, reset: int, dtype=torch.float64):
    T, B, N = 5, 3, 4
    g = torch.Generator().manual_seed(n + 10 * burst + 100 * reset)
    leaf = lambda t: t.to(dtype).requires_grad_(True)
    H = 0.5 * torch.eye(n, dtype=torch.float64) + 0.2 * torch.rand(1, N, n, n, generator=g, dtype=torch.float64)
    return [leaf(1.5 * torch.randn(T, B, N, generator=g, dtype=torch.float64)), leaf(H.permute(0, 2, 3, 1)),
            leaf(torch.rand(1, n, N, generator=g, dtype=torch.float64) + 0.5), leaf(-torch.ones(n, N)),
            leaf(0.1 * torch.ones(n, N)), leaf(torch.rand(N, generator=g, dtype=torch.float64) + 0.5),
            leaf(torch.zeros(n, B, N)), leaf(torch.zeros(B, N)), n - 1, reset, burst, False, False, 1, 2.0]


@pytest.mark.slow
@pytest.mark.parametrize("n,burst,reset", [(1, 0, 0), (2, 0, 1), (1, 3, 2)])
def test_opcheck(n, burst, reset):
    fused.register_kernels("cpu", numba_backend.KERNELS)
    result = torch.library.opcheck(torch.ops.adaspike.fused_scan.default, _op_args(n, burst, reset))
    assert set(result.values()) == {"SUCCESS"}, result


@pytest.mark.slow
@pytest.mark.parametrize("layer_cls", [LIF, AdLIF])
def test_torch_compile_matches_eager(layer_cls):
    torch.manual_seed(0)
    layer = layer_cls(16, backend="numba")
    x = (40 * torch.rand(20, 4, 16)).requires_grad_(True)
    eager = layer(x)
    (eager * torch.linspace(0, 1, 16)).sum().backward()
    g_eager = x.grad.clone(), {k: p.grad.clone() for k, p in layer.named_parameters()}
    x.grad = None
    layer.zero_grad()
    compiled = torch.compile(layer, backend="aot_eager")
    out = compiled(x)
    (out * torch.linspace(0, 1, 16)).sum().backward()
    assert torch.equal(out, eager) and eager.sum() > 0
    torch.testing.assert_close(x.grad, g_eager[0])
    for k, p in layer.named_parameters():
        torch.testing.assert_close(p.grad, g_eager[1][k])


@pytest.mark.slow
def test_compiled_graph_holds_the_scan_as_one_node():
    """Dynamo captures the scan as the custom op (no graph break into numba)."""
    graphs = []

    def recording_backend(gm, example_inputs):
        graphs.append(str(gm.graph))
        return gm.forward

    torch._dynamo.reset()
    layer = LIF(8, backend="numba", learn_tau=False)
    x = 40 * torch.rand(10, 2, 8)
    out = torch.compile(layer, backend=recording_backend)(x)
    assert torch.equal(out, layer(x))
    assert any("adaspike.fused_scan" in g for g in graphs), graphs
