"""Study figures a reader can use: a single-T coding plot has a readable x axis with every series visible, and the
convert plot's title says what it shows and every line has a legend entry."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from adaspike.report.plots import dodged, series_style  # noqa: E402


def _coding_rows(steps=(2,)) -> list[dict]:
    # two series with the same accuracy and time at every T: the second used to be drawn exactly over the first
    return [{"model": "lenet", "encoding": enc, "adaptive": ada, "T": T, "seed": 0, "accuracy": 0.8,
             "epoch_time_s": 1.0} for enc, ada in (("direct", "off"), ("hybrid", "on")) for T in steps]


@pytest.fixture
def figure(monkeypatch):
    """The figure a study saves, kept open for inspection instead of written."""
    import adaspike.report as report
    from adaspike.report import coding_study

    saved = {}

    def keep(fig, path, dpi=120):
        saved["fig"] = fig
        return path

    monkeypatch.setattr(report, "save_figure", keep)  # convert imports it at call time
    monkeypatch.setattr(coding_study, "save_figure", keep)  # the coding study's figure module at import
    yield saved
    plt.close("all")


def test_single_step_coding_plot_spreads_its_series(figure, tmp_path):
    from adaspike.report.coding_study import plot_results

    plot_results(_coding_rows(), tmp_path / "coding.png")
    accuracy_axis = figure["fig"].axes[0]
    low, high = accuracy_axis.get_xlim()
    assert high - low >= 0.9  # not 1.90-2.10 around the one T
    assert [t.get_text() for t in accuracy_axis.get_xticklabels()] == ["2"]
    lines = [container.lines[0] for container in accuracy_axis.containers]  # each series' data line
    xs = [tuple(line.get_xdata()) for line in lines]
    assert len(lines) == 2 and len(set(xs)) == 2  # side by side, not on top of each other
    assert lines[0].get_marker() != lines[1].get_marker()


def test_convert_plot_title_and_labels(figure, tmp_path):
    from adaspike.studies.convert import _plots, _title

    rows = [{"method": m, "T": T, "accuracy": 90.0 + T / 10, "energy_uJ": 0.01 * T} for m in ("baseline", "+adafire")
            for T in (1, 2, 4)]
    title = _title({"arch": "vgg-small", "dataset": "digits"})
    _plots(tmp_path, "convert_demo_digits", rows, {"accuracy": 0.93, "energy_pj": 5e4}, title)
    fig = figure["fig"]
    assert fig._suptitle.get_text() == title and "convert_demo_digits" not in title
    for ax in fig.axes:
        labels = {t.get_text() for t in ax.get_legend().get_texts()}
        drawn = {line.get_label() for line in ax.get_lines()}
        assert drawn <= labels, f"lines without a legend entry: {drawn - labels}"
    dotted = [line for line in fig.axes[1].get_lines() if line.get_linestyle() == ":"]
    assert dotted and dotted[0].get_label().startswith("ANN energy")


def test_dodged_positions_and_styles():
    assert dodged([2, 4], 0, 2, [2, 4]) == [-0.125, 0.875] and dodged([4], 1, 2, [2, 4]) == [1.125]
    assert dodged([2], 0, 1) == [0.0]
    styles = [series_style(i) for i in range(4)]
    assert len({(s["marker"], str(s["linestyle"])) for s in styles}) == 4
