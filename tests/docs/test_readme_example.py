"""The README's 30-second example runs as written, and the layer it builds fires."""
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.slow  # calibrate_firing runs the 578-128 layer a dozen times: seconds on a loaded 2-core machine
def test_readme_example_runs():
    text = README.read_text()
    code = text.split("## 30-second example", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "README example", "exec"), namespace)
    spikes = namespace["spikes"]
    assert tuple(spikes.shape) == (75, 32, 128)
    assert tuple(namespace["out"].states.shape) == (100, 8, 1, 2)
    hz = float(spikes.detach().mean()) / 4e-3  # a hand-built layer is silent at PyTorch's default init: the example wakes it
    assert 10.0 <= hz <= 40.0, f"the README's layer fires at {hz:.1f} Hz"


def test_calibrate_firing_is_one_public_call_on_a_layer_or_a_model():
    import torch
    from torch import nn

    from adaspike.layers import LIF, RecurrentSpikingLayer, SpikingLayer, calibrate_firing
    from adaspike.train import firing_init  # the old import path keeps working

    assert firing_init.calibrate_firing is calibrate_firing
    torch.manual_seed(0)
    x = torch.rand(40, 4, 30)
    layer = RecurrentSpikingLayer(30, 16, LIF(16, dt=1e-3))
    assert layer(x).sum().item() == 0.0  # silent as built
    report = calibrate_firing(layer, x)
    assert report["before"] == {"": 0.0} and 10.0 <= report["after"][""] <= 40.0
    model = nn.Sequential(SpikingLayer(nn.Linear(30, 16), LIF(16, dt=1e-3)),
                          SpikingLayer(nn.Linear(16, 8), LIF(8, dt=1e-3)))
    report = calibrate_firing(model, x)
    assert set(report["after"]) == {"0", "1"} and all(10.0 <= hz <= 40.0 for hz in report["after"].values())
    assert calibrate_firing(nn.Sequential(LIF(30)), x) == {"before": {}, "after": {}, "scales": {}}
