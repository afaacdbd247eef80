"""The Results and Benchmarks tables that come from benchmarks/results/*.json are generated, not copied by hand:
the committed docs/results.md and docs/benchmarks.md hold exactly what docs/site_tables.py makes from the JSON."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
sys.path.insert(0, str(DOCS))
import site_tables  # noqa: E402  (docs/site_tables.py)


@pytest.mark.parametrize("page", site_tables.PAGES)
def test_committed_tables_match_their_json(page):
    text = (site_tables.ROOT / page).read_text()
    assert "<!-- table:" in text, f"{page} has no generated table"
    assert site_tables.render(text) == text, f"{page} is stale: run `python docs/site_tables.py`"


def test_every_benchmark_json_is_cited():
    marked = "".join((site_tables.ROOT / page).read_text() for page in site_tables.PAGES)
    for path in sorted((site_tables.ROOT / "benchmarks" / "results").glob("*.json")):
        assert f"benchmarks/results/{path.name}" in marked, f"{path.name} is in no page"


def test_render_replaces_the_table_and_checks_the_kind(tmp_path):
    (tmp_path / "m.json").write_text('{"rows": [{"workload": "w", "T": 10, "impl": "adaspike", "peak_mib": 1.5},'
                                     ' {"workload": "w", "T": 10, "impl": "norse", "peak_mib": 3.0}]}')
    text = "before\n<!-- table: memory m.json -->\nstale\n<!-- end table -->\nafter"
    out = site_tables.render(text, tmp_path)
    assert "stale" not in out and "| w | 10 | 1.5 | 3.0 | 0.50 (norse) |" in out and out.endswith("after")
    assert site_tables.render(out, tmp_path) == out
    with pytest.raises(ValueError, match="unknown generated-table kind"):
        site_tables.render(text.replace("memory", "nonsense"), tmp_path)
