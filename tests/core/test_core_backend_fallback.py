"""A fused backend whose kernels fail to compile falls back to the reference scan (logged once)."""
import torch

from adaspike.core import lif_discrete
from adaspike.core.backends import LazyBackend
from adaspike.core.multistep import NeuronState, ScanRequest, reference_scan
from adaspike.core.spikes import BinarySpike


class TypingError(Exception):
    """Stands in for numba's TypingError (matched by class name)."""


def test_compile_failure_on_a_call_falls_back_to_the_reference(caplog):
    backend = LazyBackend("fake", "numba_backend", "numba_scan", "cpu", "torch", "")

    def broken(req):
        raise TypingError("cannot compile")

    backend._fn = broken
    ssm = lif_discrete(torch.full((4,), 0.9), threshold=torch.ones(4))
    current = 3 * torch.rand(10, 2, 4)
    req = ScanRequest(current, ssm, "subtract", False, BinarySpike(),
                      NeuronState(torch.zeros(2, 4, 1), torch.zeros(2, 4)), None, False)
    out = backend(req)
    assert torch.equal(out.spikes, reference_scan(req).spikes)
    assert backend.failed and "compilation failed" in caplog.text


def test_a_forced_backend_that_cannot_run_is_said_once(monkeypatch, caplog):
    from adaspike.core.backends import select_backend

    monkeypatch.setenv("ADASPIKE_BACKEND", "no-such-backend")
    ssm = lif_discrete(torch.full((4,), 0.9), threshold=torch.ones(4))
    req = ScanRequest(torch.rand(3, 2, 4), ssm, "subtract", False, BinarySpike(),
                      NeuronState(torch.zeros(2, 4, 1), torch.zeros(2, 4)), None, False)
    assert select_backend(req, "auto") is reference_scan
    assert select_backend(req, "auto") is reference_scan
    assert caplog.text.count("ADASPIKE_BACKEND=no-such-backend is not registered") == 1
