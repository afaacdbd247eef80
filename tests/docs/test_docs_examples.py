"""The code on the site runs: the landing page's quickstart and every API page's Examples section.

Each page's Python blocks (on API pages: those under its "## Examples" heading) run in order in one namespace,
in a scratch folder, so an example that drifts from the API fails here instead of on a reader's machine.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGES = Path(__file__).resolve().parents[2] / "docs" / "pages"
API_PAGES = sorted(p.name for p in (PAGES / "api").glob("*.md"))


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def examples_section(text: str) -> str:
    """The text under the page's "## Examples" heading, up to the next level-2 heading."""
    match = re.search(r"^## Examples\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    return match.group(1) if match else ""


def _run(blocks: list[str], where: str, tmp_path, monkeypatch) -> dict:
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs_example__"}
    for index, block in enumerate(blocks):
        exec(compile(block, f"{where}, block {index + 1}", "exec"), namespace)
    return namespace


@pytest.mark.slow
def test_quickstart_runs(tmp_path, monkeypatch):
    blocks = python_blocks((PAGES / "index.md").read_text().split("## Quickstart", 1)[1])
    assert len(blocks) >= 2, "the landing page has no quickstart code"
    namespace = _run(blocks, "index.md quickstart", tmp_path, monkeypatch)
    assert tuple(namespace["logits"].shape) == (32, 10)
    assert namespace["graph"].nodes  # exported to NIR


@pytest.mark.slow
@pytest.mark.parametrize("page", API_PAGES)
def test_api_examples_run(page, tmp_path, monkeypatch):
    blocks = python_blocks(examples_section((PAGES / "api" / page).read_text()))
    assert blocks, f"api/{page} has no Examples section with Python code"
    _run(blocks, f"api/{page} Examples", tmp_path, monkeypatch)
