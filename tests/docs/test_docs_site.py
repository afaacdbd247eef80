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


@pytest.mark.slow
def test_tutorials_run_and_site_builds(tmp_path):
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings") is None:
        pytest.skip("mkdocs/mkdocstrings not installed (pip install -e '.[docs]'); tutorials run without the site")
    assert build.main(["--site", str(tmp_path / "site")]) == 0
    html = (tmp_path / "site" / "tutorials" / "nir" / "index.html").read_text()
    assert "import_nir" in html  # the executed tutorial's code is on the page
    assert (tmp_path / "site" / "figures" / "nir_membrane.png").is_file()
    assert "export_nir" in (tmp_path / "site" / "api" / "interop" / "index.html").read_text()
    from test_docs_api import check_site_api_pages, check_site_constructor_parameters, check_site_math
    check_site_api_pages(tmp_path / "site")
    check_site_math(tmp_path / "site")
    check_site_constructor_parameters(tmp_path / "site")
    check_site_pages(tmp_path / "site")
    check_math_renders_offline(tmp_path / "site")
    retime_page = (tmp_path / "site" / "tutorials" / "retime" / "index.html").read_text()
    assert "deployed at" in retime_page and "retime_accuracy.png" in retime_page  # printed output + figure


def check_site_pages(site: Path) -> None:
    """Results and Benchmarks are site pages, with the tables made from benchmarks/results/*.json; the first-SNN
    tutorial shows its printed outputs and figures."""
    results = (site / "results" / "index.html").read_text()
    benchmarks = (site / "benchmarks" / "index.html").read_text()
    assert "Measured results" in results and "<table>" in results
    assert "<table>" in benchmarks and "spikingjelly (ms)" in benchmarks
    assert "&lt;!-- table:" not in benchmarks  # the markers stay HTML comments, never shown as text
    tutorial = (site / "tutorials" / "first_snn" / "index.html").read_text()
    for figure in ("first_snn_learning_curve.png", "first_snn_raster.png", "first_snn_deploy.png"):
        assert figure in tutorial and (site / "figures" / figure).is_file()
    assert "test accuracy at 4 ms" in tutorial and "imported at 1 ms" in tutorial
    index = (site / "index.html").read_text()
    assert 'id="quickstart"' in index and "calibrate_firing" in index


def check_math_renders_offline(site: Path) -> None:
    """In a real headless browser with no network, the concepts page's TeX becomes MathJax output."""
    from site_screenshots import browser, rendered_dom

    if browser() is None:
        pytest.skip("chromium is not installed (scripts/system-packages.sh installs it); the site built")
    dom = rendered_dom(site / "concepts" / "index.html")
    assert dom.count("<mjx-container") >= 5, "MathJax typeset no math on the concepts page"
    assert "\\frac{dv}{dt}" not in re.sub(r"<mjx-assistive-mml.*?</mjx-assistive-mml>", "", dom, flags=re.S)


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
