"""The run context: neurons carry no mode flags; the old flags still work, with a DeprecationWarning."""
import pytest
import torch

from adaspike.convert import Record, RunContext, make_neuron, recording, run_context
from adaspike.convert.context import active_run


def test_contexts_nest_and_keep_what_an_outer_block_records():
    assert active_run() is None
    with recording(output_sum=True):
        with run_context(mode="step", steps=4) as inner:
            assert inner.mode == "step" and inner.steps == 4 and inner.record.output_sum
        assert active_run() == RunContext(record=Record(output_sum=True))
    assert active_run() is None
    with pytest.raises(ValueError, match="mode"):
        RunContext(mode="fast")


def test_a_neuron_has_no_mode_flags_of_its_own():
    neuron = make_neuron("adafire", 2, True, gamma=2)
    flags = {"mode", "steps", "backend", "capture", "track_output", "count_stats", "track_peak", "per_sample_counts"}
    assert not flags & set(vars(neuron))
    z = torch.full((3, 2, 1, 1), 0.7)
    with run_context(mode="ann"), recording(activation=True):
        assert torch.equal(neuron(z), z) and torch.equal(neuron.activation, z)
    with run_context(mode="step", steps=2), recording(spike_total=False):
        neuron(z)
    assert neuron.spike_total == 0.0
    with run_context(mode="step", steps=2):
        neuron(z)
    assert float(neuron.spike_total) > 0


def test_deprecated_flags_still_steer_a_neuron_outside_a_context():
    neuron = make_neuron("adafire", 1, False)
    with pytest.warns(DeprecationWarning, match="RunContext"):
        neuron.mode = "ann"
    z = torch.tensor([[-1.0], [2.0]])
    assert torch.equal(neuron(z), torch.relu(z))
    with run_context(mode="step"):                     # an explicit context wins
        assert not torch.equal(neuron(z), torch.relu(z))
    with pytest.warns(DeprecationWarning):
        assert neuron.mode == "ann"
