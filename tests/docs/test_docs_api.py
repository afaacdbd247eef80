"""The API reference is complete: every package has a page in the nav, no page documents nothing, math renders.

Fast checks that need no site build: each ``::: module`` of docs/pages/api/*.md imports and exports documented
members through an explicit ``__all__`` (what mkdocstrings shows). ``check_site_api_pages`` inspects a built
site's HTML and is called by the full site-build test in test_docs_site.py.
"""
from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
API = DOCS / "pages" / "api"
# every capability package has its own API page
REQUIRED = ("core", "layers", "data", "encoding", "models", "retime", "train", "plots", "convert", "metrics",
            "interop")


def _targets(page: Path) -> list[str]:
    return re.findall(r"^:::\s*([\w.]+)", page.read_text(), flags=re.M)


def test_every_api_page_exists_and_is_in_the_nav():
    nav = (DOCS / "mkdocs.yml").read_text()
    for name in REQUIRED:
        assert (API / f"{name}.md").is_file(), f"docs/pages/api/{name}.md is missing"
        assert f"api/{name}.md" in nav, f"api/{name}.md is not in the nav of docs/mkdocs.yml"
    for page in API.glob("*.md"):
        assert f"api/{page.name}" in nav, f"{page.name} exists but is not in the nav"


@pytest.mark.parametrize("page", sorted(p.name for p in API.glob("*.md")))
def test_api_page_documents_members(page):
    targets = _targets(API / page)
    assert targets, f"{page} has no ::: directive"
    text = (API / page).read_text()
    assert len(text.split(":::", 1)[0].split("\n", 1)[-1].strip()) > 40, f"{page} has no short introduction"
    documented = 0
    for target in targets:
        module = importlib.import_module(target)
        names = getattr(module, "__all__", None)
        if names is None:  # mkdocstrings then shows the public names the module defines itself
            names = [n for n, o in vars(module).items() if not n.startswith("_")
                     and getattr(o, "__module__", None) == module.__name__]
        assert isinstance(names, (list, tuple)), f"{target}.__all__ must be a literal list"
        for name in names:
            obj = getattr(module, name)  # every exported name exists
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and inspect.getdoc(obj):
                documented += 1
    assert documented, f"{page}: no documented class or function among the exported members"


def check_site_api_pages(site: Path) -> None:
    """Each built API page shows at least one documented member (a heading of a class or function)."""
    for page in API.glob("*.md"):
        html = (site / "api" / page.stem / "index.html").read_text()
        members = re.findall(r'class="doc doc-heading"', html)
        assert len(members) > len(_targets(page)), f"api/{page.stem}: no documented member on the built page"


def check_site_math(site: Path) -> None:
    html = (site / "concepts" / "index.html").read_text()
    assert "javascripts/mathjax.js" in html and "mathjax@3" in html, "MathJax is not loaded on the concepts page"
    assert 'class="arithmatex"' in html, "no arithmatex math on the concepts page"
