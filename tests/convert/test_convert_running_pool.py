"""convert(maxpool="running"): max-pooling of running sums, exact in rate at every step."""
import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st
from torch import nn

from adaspike.convert import convert, run_context
from adaspike.convert.pooling import RunningMaxPool


@settings(max_examples=40, deadline=None)
@given(steps=st.integers(1, 6), batch=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_the_integrated_output_is_the_pool_of_the_integrated_input_in_both_modes(steps, batch, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(-2, 4, (steps, batch, 2, 4, 4), generator=g).float()     # spike counts of either sign
    pool = RunningMaxPool(nn.MaxPool2d(2))
    with run_context(mode="sequence", steps=steps):
        folded = pool(x.reshape(steps * batch, 2, 4, 4)).reshape(steps, batch, 2, 2, 2)
    stepped = []
    with run_context(mode="step", steps=steps):
        for t in range(steps):
            stepped.append(pool(x[t]))
    assert torch.equal(torch.stack(stepped), folded)
    for t in range(steps):       # Σ_{s≤t} y(s) = maxpool(Σ_{s≤t} x(s)) at every step, not only at the end
        assert torch.allclose(folded[:t + 1].sum(0), F.max_pool2d(x[:t + 1].sum(0), 2))
    pool.reset_state()
    with run_context(mode="ann"):
        assert torch.equal(pool(x[0]), F.max_pool2d(x[0], 2))


def _hidden_pool_net():
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 6, 3, padding=1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(6 * 4 * 4, 4)).eval()


@pytest.mark.slow
def test_a_hidden_pool_is_exact_in_rate_and_does_not_warn():
    """Plain IF (Γ = 1): pooling each step's spikes keeps a bias that does not shrink with T; pooling running
    sums leaves only the quantisation error, which does."""
    ann, x = _hidden_pool_net(), torch.rand(16, 1, 8, 8)
    options = dict(adafire=False, bias_correct=False, threshold_batches=1, batch_size=16)
    with torch.no_grad():
        ref = ann(x)
    errors = {}
    for T in (32, 128):
        with pytest.warns(UserWarning, match="max-pool"):
            per_step, _ = convert(ann, x, T=T, **options)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            running, report = convert(ann, x, T=T, maxpool="running", **options)
        assert report.maxpool_nodes == [] and report.options["maxpool"] == "running" and len(running.pools) == 1
        with torch.no_grad():
            errors[T] = [float((snn.run(x, T).logits - ref).norm() / ref.norm()) for snn in (per_step, running)]
    assert min(errors[32][0], errors[128][0]) > 0.1                  # per step: biased at any T
    assert errors[128][1] < errors[32][1] / 2 and errors[128][1] < 0.01
    with torch.no_grad():
        leave_first = lambda logits, t: (torch.arange(len(logits)) % 2 == 0) & (t == 1)   # even samples, at t = 1
        early = running.run(x, 128, exit_rule=leave_first).logits
        assert torch.allclose(early[1::2], running.run(x[1::2], 128).logits, atol=1e-5)   # pools trimmed on exit


def test_functional_pools_are_wrapped_and_a_bad_mode_is_refused():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.fc = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1), nn.Linear(16, 3)

        def forward(self, x):
            y = F.max_pool2d(F.relu(self.b(F.relu(self.a(x)))), kernel_size=4)
            return self.fc(y.flatten(1))

    x = torch.rand(8, 1, 8, 8)
    snn, report = convert(Functional().eval(), x, T=4, adafire=False, maxpool="running", threshold_batches=1)
    assert len(snn.pools) == 1 and report.maxpool_nodes == []
    with pytest.raises(ValueError, match="maxpool"):
        convert(Functional().eval(), x, T=4, adafire=False, maxpool="max")
