"""The coding study's protocol: validation from the training split, balanced subsets, resumable runs, the
epochs-to-target metric, mixup that switches off, training-mode BN at test (the authors' code)."""
from dataclasses import replace

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from adaspike.cli import main as cli_main
from adaspike.report.coding_study import epochs_to_reach, summarise
from adaspike.studies import coding
from adaspike.studies.coding import CodingStudyConfig, EpochMixup, balanced_subset, run_coding_study, study_splits

TINY = CodingStudyConfig(dataset="digits", models=["lenet"], encodings=["hybrid"], adaptive=["on"], steps=[2],
                         seeds=[0], limit=200, val_limit=100, test_limit=64, val_fraction=0.2, epochs=2,
                         batch_size=32, width=4, targets=[0.3], isolate=False)


@given(st.lists(st.integers(0, 4), min_size=20, max_size=200), st.integers(1, 60))
def test_balanced_subset_takes_the_same_number_per_class(labels, limit):
    labels = np.asarray(labels)
    present = np.unique(labels)
    picked = balanced_subset(np.arange(len(labels)), labels, limit)
    assert len(np.unique(picked)) == len(picked)
    if limit >= len(labels):
        assert len(picked) == len(labels)
    else:
        per_class = max(1, limit // len(present))
        counts = np.bincount(labels[picked], minlength=5)
        assert all(counts[k] == min(per_class, int((labels == k).sum())) for k in present)


def test_validation_comes_from_the_training_split_and_never_overlaps_training():
    (xt, yt), (xv, yv), (xs, ys), classes = study_splits(TINY)
    assert classes == 10 and len(yt) == 200 and len(yv) == 100 and len(ys) == 64
    assert torch.equal(torch.bincount(yv, minlength=10), torch.full((10,), 10))  # class-balanced
    train_rows = {tuple(r.tolist()) for r in xt.flatten(1)}
    assert not any(tuple(r.tolist()) in train_rows for r in xv.flatten(1))  # disjoint samples


def test_epochs_to_reach_and_summary_mean_sd():
    assert epochs_to_reach([0.5, 0.7, 0.8], 0.7) == 2 and epochs_to_reach([0.5], 0.9) is None
    rows = [{"model": "m", "encoding": "e", "adaptive": "on", "T": 2, "accuracy": a, "val_accuracy": a,
             "val_curve": curve, "epoch_time_s": 1.0, "peak_mem_mb": 1.0, "spikes_per_sample": 1.0}
            for a, curve in ((0.8, [0.6, 0.8]), (0.6, [0.6, 0.6]))]
    (entry,) = summarise(rows, [0.7])
    assert entry["test accuracy"] == f"0.7000 ± {np.std([0.8, 0.6], ddof=1):.4f}"
    assert entry["epochs to val 0.7"] == "2.0 (1/2)"


def test_epoch_mixup_mixes_then_stops():
    mix = EpochMixup(10, batches_per_epoch=2, stop_epoch=1, seed=0)
    x, y = torch.rand(4, 1, 4, 4), torch.tensor([0, 1, 2, 3])
    mixed = [not torch.equal(mix(x, y)[0], x) for _ in range(4)]
    assert mixed == [True, True, False, False]


def test_a_rerun_reuses_finished_runs_and_changed_settings_retrain(tmp_path, monkeypatch):
    rows = run_coding_study(TINY, tmp_path)
    assert (tmp_path / "runs" / "lenet_hybrid_on_T2_s0.json").exists()
    assert len(rows[0]["val_curve"]) == 2 and 0.0 <= rows[0]["accuracy"] <= 1.0

    def boom(*args):
        raise AssertionError("retrained a finished run")

    monkeypatch.setattr(coding, "run_cell", boom)
    assert run_coding_study(replace(TINY, targets=[0.5]), tmp_path) == rows  # targets only change the summary
    with pytest.raises(AssertionError, match="retrained"):
        run_coding_study(replace(TINY, epochs=1), tmp_path)


def test_train_bn_at_eval_reports_both_test_accuracies(tmp_path):
    (row,) = run_coding_study(replace(TINY, bn_mode="shared", mixup=True, train_bn_at_eval=True, epochs=1), tmp_path)
    assert 0.0 <= row["accuracy_train_bn"] <= 1.0 and 0.0 <= row["accuracy"] <= 1.0


def test_cli_uses_limit_and_out(tmp_path, capsys):
    code = cli_main(["study", "coding", "--dataset", "digits", "--model", "lenet", "--encodings", "direct",
                     "--adaptive", "off", "--T", "2", "--seeds", "0", "--epochs", "1", "--limit", "100",
                     "--test-limit", "32", "--width", "4", "--no-isolate", "-o", str(tmp_path)])
    assert code == 0 and (tmp_path / "coding_study.md").exists()
    assert "epochs to val" in capsys.readouterr().out
