"""The documentation: every tutorial runs, and (when mkdocs is installed) the site builds with --strict."""
from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
sys.path.insert(0, str(DOCS))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import build  # noqa: E402  (docs/build.py)


def test_tutorials_run_and_site_builds(tmp_path):
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings") is None:
        pytest.skip("mkdocs/mkdocstrings not installed (pip install -e '.[docs]'); tutorials run without the site")
    assert build.main(["--site", str(tmp_path / "site")]) == 0
    html = (tmp_path / "site" / "tutorials" / "nir" / "index.html").read_text()
    assert "import_nir" in html  # the executed tutorial's code is on the page
    assert (tmp_path / "site" / "figures" / "nir_membrane.png").is_file()
    assert "export_nir" in (tmp_path / "site" / "api" / "interop" / "index.html").read_text()
    from test_docs_api import check_site_api_pages, check_site_math
    check_site_api_pages(tmp_path / "site")
    check_site_math(tmp_path / "site")
    retime_page = (tmp_path / "site" / "tutorials" / "retime" / "index.html").read_text()
    assert "deployed at" in retime_page and "retime_accuracy.png" in retime_page  # printed output + figure


def test_every_tutorial_page_shows_printed_output():
    for page in sorted((DOCS / "pages" / "tutorials").glob("*.md")):
        assert re.search(r'--8<-- "outputs/', page.read_text()), \
            f"{page.name} includes no printed output (docs/tutorials/_common.py: show/output + a snippet)"


def test_tutorials_run_without_mkdocs(tmp_path, monkeypatch):
    if importlib.util.find_spec("mkdocs") is not None:
        pytest.skip("covered by the full site build")
    assert build.main(["--tutorials-only"]) == 0


def test_every_tutorial_is_on_a_page():
    pages = "".join(p.read_text() for p in (DOCS / "pages" / "tutorials").glob("*.md"))
    for script in (DOCS / "tutorials").glob("tutorial_*.py"):
        assert f"tutorials/{script.name}" in pages, f"{script.name} is not included in any tutorial page"
