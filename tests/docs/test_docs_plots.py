"""Plot helpers return figures that save as PNG (Agg) and reject bad input."""
from __future__ import annotations

import pytest
import torch

from adaspike.report import save_figure
from adaspike.report.plots import (accuracy_vs_ratio, accuracy_vs_steps, firing_rate_histogram, firing_rates,
                                   membrane_trace, spike_raster)


@pytest.mark.slow
def test_plots_save(tmp_path):
    spikes = (torch.rand(50, 2, 10) < 0.2).float()
    figs = {"raster": spike_raster(spikes, dt=1e-3),
            "rates": firing_rate_histogram({"a": spikes, "b": spikes * 0}, dt=1e-3),
            "trace": membrane_trace(torch.randn(50, 3).cumsum(0), threshold=1.0, spikes=spikes[:, 0, :3]),
            "T": accuracy_vs_steps([1, 2, 4], [0.5, 0.7, 0.8]),
            "rho": accuracy_vs_ratio([1, 2, 4], {"zoh": [1, 0.9, 0.8], "none": [1, 0.5, 0.2]})}
    for name, fig in figs.items():
        path = save_figure(fig, tmp_path / f"{name}.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_firing_rates_in_hz():
    spikes = torch.zeros(10, 1, 2)
    spikes[::2, 0, 0] = 1
    assert firing_rates(spikes, dt=1e-3).tolist() == pytest.approx([500.0, 0.0])


def test_bad_inputs():
    with pytest.raises(ValueError):
        spike_raster(torch.zeros(5))
    with pytest.raises(ValueError):
        firing_rate_histogram({})


def test_learning_curve_has_train_and_validation(tmp_path):
    from adaspike.report import save_figure
    from adaspike.report.plots import learning_curve

    history = [{"epoch": e, "train_loss": 1.0 / e, "train_accuracy": 0.5 + 0.1 * e, "val_loss": 1.2 / e,
                "val_accuracy": 0.4 + 0.1 * e} for e in (1, 2, 3)]
    fig = learning_curve(history, selected_epoch=2)
    labels = [line.get_label() for ax in fig.axes for line in ax.get_lines()]
    assert labels.count("train") == 2 and labels.count("validation") == 2  # never "test": it is not the test set
    assert labels.count("selected (epoch 2)") == 2
    path = save_figure(fig, tmp_path / "curve.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_accuracy_axes_keep_a_minimum_span():
    from adaspike.report.plots import ACCURACY_MIN_SPAN, accuracy_limits

    lo, hi = accuracy_limits([0.9045, 0.9068])
    assert hi - lo >= ACCURACY_MIN_SPAN - 1e-12 and lo <= 0.9045 and hi >= 0.9068
    lo, hi = accuracy_limits([0.99, 1.0])  # shifted inside [0, 1], span kept
    assert hi == 1.0 and hi - lo >= ACCURACY_MIN_SPAN - 1e-12
    assert accuracy_limits([0.1, 0.9]) == pytest.approx((0.02, 0.98))  # wide spreads: data range + margin
    fig = accuracy_vs_ratio([1, 2], {"zoh": [0.9045, 0.9068], "euler": [0.9045, 0.9068]})
    bottom, top = fig.axes[0].get_ylim()
    assert top - bottom >= ACCURACY_MIN_SPAN - 1e-12


def test_coinciding_lines_stay_distinguishable():
    fig = accuracy_vs_ratio([1, 2, 4], {"zoh": [0.9, 0.8, 0.7], "euler": [0.9, 0.8, 0.7], "none": [0.9, 0.5, 0.2]})
    lines = fig.axes[0].get_lines()
    styles = {(line.get_marker(), str(line.get_linestyle()), line.get_markersize()) for line in lines}
    assert len(styles) == len(lines)  # a line exactly under another still shows its own marker and dash


def test_chance_level_warning():
    from adaspike.train.metrics import chance_level_warning

    assert "chance level" in chance_level_warning({"test": 0.105}, classes=10)
    assert chance_level_warning({"test": 0.16, "validation": None}, classes=10) is None
    assert "validation" in chance_level_warning({"test": 0.9, "validation": 0.52}, classes=2)
    with pytest.raises(ValueError):
        chance_level_warning({"test": 0.5}, classes=1)
