"""Issue 29: the default AdaFire budget (all-max-Γ spike count), ``budget="paper"`` / ``--budget paper``, per-stage
progress bars and warnings that name the caller's line. Small CPU models only."""
import io
import warnings

import pytest
import torch
from torch import nn

from adaspike.convert import convert
from adaspike.convert.pipeline import DEFAULT_GAMMA_TARGET, PAPER_GAMMA_TARGET
from adaspike.convert.progress import StageProgress, tick


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 10)).eval()


def _data(n: int = 32):
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)


def _quiet_convert(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")         # random nets are at chance level: that warning is not tested here
        return convert(*args, **kwargs)


def test_default_budget_is_max_gamma_and_paper_budget_is_gamma_4():
    assert DEFAULT_GAMMA_TARGET is None and PAPER_GAMMA_TARGET == 4
    x, y = _data()
    common = dict(T=1, gammas=(1, 2, 4, 8), threshold_batches=1, progress=False)
    _, default = _quiet_convert(_net(), (x, y), **common)
    assert default.options["gamma_target"] == 8 and default.options["spike_budget"] == 1.0
    _, paper = _quiet_convert(_net(), (x, y), budget="paper", spike_budget=3.0, **common)
    assert paper.options["gamma_target"] == 4 and paper.options["spike_budget"] == 1.0
    assert paper.options["budget"] == "paper"
    budget_default = sum(default.adafire_search["spikes"][3])          # the Γ = 8 row
    budget_paper = sum(paper.adafire_search["spikes"][2])              # the Γ = 4 row
    assert default.adafire_search["budget"] == pytest.approx(budget_default)
    assert paper.adafire_search["budget"] == pytest.approx(budget_paper)
    with pytest.raises(ValueError, match="budget must be one of"):
        _quiet_convert(_net(), (x, y), budget="cheap", **common)


def test_cli_budget_paper_and_no_progress():
    from adaspike.cli import build_parser
    from adaspike.cli.convert import _options

    parser = build_parser()
    args = parser.parse_args(["convert", "--ann", "x.safetensors"])
    options = _options(args)
    assert options["gamma_target"] is None and options["spike_budget"] == 1.0 and options["progress"] is None
    args = parser.parse_args(["convert", "--ann", "x.safetensors", "--budget", "paper", "--spike-budget", "2",
                              "--no-progress"])
    options = _options(args)
    assert options["gamma_target"] == 4 and options["spike_budget"] == 1.0 and options["progress"] is False
    args = parser.parse_args(["convert", "--ann", "x.safetensors", "--gamma-target", "2"])
    assert _options(args)["gamma_target"] == 2
    # neuron, max-pooling and thresholds: unset means convert's per-input default; set, they reach convert
    assert {_options(args)[k] for k in ("neuron", "maxpool", "threshold_headroom")} == {None}
    args = parser.parse_args(["convert", "--ann", "x.safetensors", "--neuron", "signed", "--maxpool", "running",
                              "--headroom", "4"])
    options = _options(args)
    assert (options["neuron"], options["maxpool"], options["threshold_headroom"]) == ("signed", "running", 4.0)


def test_progress_shows_every_stage_when_asked_and_nothing_otherwise(capsys):
    x, y = _data()
    common = dict(T=2, gammas=(1, 2), ssc=True, iat=True, threshold_batches=1, batch_size=16,
                  ssc_ratios=(1.0, 2.0))
    _quiet_convert(_net(), (x, y), progress=True, **common)
    err = capsys.readouterr().err
    for name in ("thresholds", "Γ search", "SSC", "IAT"):
        assert f"convert: {name}" in err
    assert "at most" in err                         # the time estimate of a stage with a known number of runs
    _quiet_convert(_net(), (x, y), **common)      # default: only on a terminal (pytest's stderr is not one)
    _quiet_convert(_net(), (x, y), progress=False, **common)
    assert capsys.readouterr().err == ""


def test_stage_progress_counts_ticks_and_logs_stages():
    out = io.StringIO()
    bars = StageProgress(True, file=out)
    with bars.stage("Γ search", total=3) as counter:
        tick()
        tick(2)
    assert counter.n == 3
    bars.begin("IAT", 2)
    tick()
    bars.end()
    bars.end()                                  # ending twice is harmless
    tick()                                      # outside a stage: no-op
    assert [name for name, _, _ in bars.log] == ["Γ search", "IAT"]
    assert [n for _, _, n in bars.log] == [3, 1]
    assert "convert: Γ search" in out.getvalue() and "convert: IAT" in out.getvalue()
    assert not StageProgress(None, file=io.StringIO()).enabled      # not a terminal: quiet


def test_warnings_point_at_the_callers_line():
    x, _ = _data()
    net = _net()
    with torch.no_grad():
        wrong = (net(x).argmax(1) + 1) % 10        # labels the ANN always misses: the chance-level warning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        convert(net, (x, wrong), T=2, gammas=(1, 2), threshold_batches=1, progress=False)
    relevant = [w for w in caught if "chance level" in str(w.message)]
    assert relevant, [str(w.message) for w in caught]
    for w in relevant:
        assert w.filename == __file__, (w.filename, str(w.message))


def test_max_pool_warning_names_the_callers_line_and_the_models():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(1, 4, 3, padding=1)
            self.fc = nn.Linear(8 * 16, 10)

        def forward(self, x):
            h = torch.cat([torch.relu(self.a(x)), torch.relu(self.b(x))], 1)
            return self.fc(nn.functional.max_pool2d(h, 2).flatten(1))   # pools spikes: approximate

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        convert(Net().eval(), _data(16)[0], T=2, gammas=(1, 2), threshold_batches=1, progress=False)
    pools = [w for w in caught if "max-pooling per step" in str(w.message)]
    assert len(pools) == 1 and pools[0].filename == __file__
    assert "max_pool2d(h, 2)" in str(pools[0].message)          # the model's own line, from the trace


def _lossy_logits(n: int, lost: int):
    """n samples right and certain from step 1, except ``lost`` that are wrong (and certain) at step 1, right at T."""
    logits = torch.zeros(2, n, 3, dtype=torch.float64)
    logits[:, :, 0] = 5.0
    for i in range(lost):
        logits[0, i] = torch.tensor([0.0, 9.0, 0.0])
        logits[1, i] = torch.tensor([30.0, 0.0, 0.0])
    return logits, torch.zeros(n, dtype=torch.long)


def test_iat_default_rule_wants_one_more_loss_to_fit_the_tolerance():
    from adaspike.convert.iat import ALPHAS, PAPER_ALPHAS, select_exit_policy

    assert ALPHAS[0] == 0.0 and set(PAPER_ALPHAS) <= set(ALPHAS)
    logits, y = _lossy_logits(1000, 3)          # exiting at step 1 loses 3 of 1000 = 0.3 points
    kw = dict(tolerance=0.3, folds=1, held_fraction=1.0, alphas=(0.0, 1.0))
    _, old = select_exit_policy([logits], [y], criterion="losses", **kw)
    _, new = select_exit_policy([logits], [y], **kw)
    assert old["alpha"] == 0.0 and old["held_out_losses"] == 3          # 0.3 points: within tolerance
    assert new["criterion"] == "losses+1" and new["alpha"] == 1.0       # 3 + 1 = 0.4 points: not
    few, y_few = _lossy_logits(200, 0)          # 200 samples cannot show 0.3 points: no early exit at all
    policy, info = select_exit_policy([few], [y_few], **kw)
    assert info["alpha"] is None and bool((policy.thresholds > 1).all())
    with pytest.raises(ValueError, match="criterion"):
        select_exit_policy([few], [y_few], criterion="mean", **kw)
