"""Retime study protocol: variants (method × spike rule), seeds aggregated as mean ± sd, the table against the
source, and the train-coarse-deploy-fine table."""
import pytest

from adaspike.report.retime_study import accuracy_tables, direct_table, target_table, variant_name, variants
from adaspike.studies.retime import RetimeStudyConfig


def _row(variant, rho, accuracy, seed=0, neuron="lif"):
    method, _, plain = variant.partition(" ")
    return {"neuron": neuron, "seed": seed, "method": method, "spike_rule": "steps" if plain else "seconds",
            "variant": variant, "train_dt": 4e-3, "eval_dt": 4e-3 * rho, "rho": rho, "accuracy": accuracy,
            "loss": None, "error": None, "spike_rates_hz": {"h": 10.0}, "hidden_rate_hz": 10.0, "warnings": []}


def test_variants_pair_every_map_with_both_spike_rules_and_none_once():
    cfg = RetimeStudyConfig(methods=["none", "zoh"], spike_rules=["seconds", "steps"])
    assert variants(cfg) == [("none", "steps"), ("zoh", "seconds"), ("zoh", "steps")]
    assert [variant_name(*v) for v in variants(cfg)] == ["none", "zoh", "zoh (plain)"]


def test_seeds_are_aggregated_as_mean_and_sd():
    rows = [_row("zoh", 1.0, 0.90, 0), _row("zoh", 1.0, 0.92, 1), _row("zoh", 0.5, 0.80, 0),
            _row("zoh", 0.5, 0.84, 1)]
    table = accuracy_tables(rows, RetimeStudyConfig(methods=["zoh"], spike_rules=["seconds"]))
    assert "| zoh | 82.0 ± 2.8 | 91.0 ± 1.4 |" in table and "2 seeds (mean ± sd)" in table


def test_target_table_reports_the_gap_of_the_best_variant():
    rows = [_row(v, 1.0, 0.9) for v in ("none", "zoh", "zoh (plain)", "tau")]
    rows += [_row("none", 0.5, 0.6), _row("zoh", 0.5, 0.88), _row("zoh (plain)", 0.5, 0.7), _row("tau", 0.5, 0.5)]
    (line,) = target_table(rows)
    assert line["best"] == "zoh 88.0" and line["best − source (pp)"] == "-2.0"
    assert line["zoh (plain)"] == "70.0" and line["none"] == "60.0" and line["tau"] == "50.0"


def test_direct_table_compares_retimed_and_directly_trained_models():
    rows = [_row("zoh", 0.5, 0.90, 0), _row("zoh", 0.5, 0.94, 1)]
    direct = [{"neuron": "lif", "dt": 2e-3, "test_accuracy": 0.91, "train_time_s": 200.0},
              {"neuron": "lif", "dt": 2e-3, "test_accuracy": 0.93, "train_time_s": 200.0}]
    training = [{"neuron": "lif", "train_time_s": 100.0}, {"neuron": "lif", "train_time_s": 100.0}]
    (line,) = direct_table(rows, direct, training)
    assert line["retimed − direct (pp)"] == "+0.0" and line["training time saved"] == "50%"
    assert line["retimed from source (zoh)"] == "92.0 ± 2.8"
