"""The API reference is complete: every package has a page in the nav, no page documents nothing, math renders.

Fast checks that need no site build: each ``::: module`` of docs/pages/api/*.md imports and exports documented
members through an explicit ``__all__`` (what mkdocstrings shows). ``check_site_api_pages`` inspects a built
site's HTML and is called by the full site-build test in test_docs_site.py.
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import textwrap
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


def _modules(page: Path) -> list[str]:
    """The page's ``:::`` targets that are modules (a page may also name one class, e.g. an undocumented one)."""
    modules = []
    for target in _targets(page):
        try:
            importlib.import_module(target)
        except ModuleNotFoundError:
            if importlib.util.find_spec(target.rpartition(".")[0]) is None:
                raise
            continue
        modules.append(target)
    return modules


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
    for target in _modules(API / page):
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
    """The concepts page typesets its math with the site's own MathJax: no script, style or font from the web."""
    html = (site / "concepts" / "index.html").read_text()
    assert "javascripts/mathjax.js" in html and "javascripts/mathjax/tex-mml-chtml.js" in html, \
        "the local MathJax is not loaded on the concepts page"
    assert 'class="arithmatex"' in html, "no arithmatex math on the concepts page"
    remote = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?://[^"]+)"', html)
    assert not remote, f"the concepts page loads from the network: {remote}"
    bundle = site / "javascripts" / "mathjax"
    assert (bundle / "tex-mml-chtml.js").is_file() and any((bundle / "output" / "chtml" / "fonts").rglob("*.woff")), \
        "MathJax's script or fonts are missing from the site"


def constructor_parameters(cls) -> list[str]:
    """The keyword names a class's constructor takes: its own, and those its ``**kw`` passes on to the base's
    ``__init__`` (less the ones it fills itself in that ``super().__init__(...)`` call): what its page must show."""
    names: list[str] = []
    taken: set[str] = set()
    positional = 0
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        if not inspect.isfunction(init):  # a C type's __init__ (torch, builtins): nothing of ours past it
            break
        params = list(inspect.signature(init).parameters.values())[1:]
        names += [p.name for i, p in enumerate(params) if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
                  and p.name not in names and p.name not in taken and i >= positional]
        var_kw = next((p.name for p in params if p.kind is p.VAR_KEYWORD), None)
        if var_kw is None:
            break
        call = next((node for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(init))))
                     if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "__init__"
                     and any(k.arg is None and getattr(k.value, "id", None) == var_kw for k in node.keywords)), None)
        if call is None:
            break
        positional, taken = len(call.args), taken | {k.arg for k in call.keywords if k.arg}
    return names


def check_site_constructor_parameters(site: Path) -> None:
    """Every public class of every API page shows each of its constructor parameters in its signature (LIF's dt,
    threshold, reset, surrogate and refractory arrive through **kw)."""
    for page in sorted(API.glob("*.md")):
        html = (site / "api" / page.stem / "index.html").read_text()
        for target in _modules(page):
            module = importlib.import_module(target)
            for name in getattr(module, "__all__", []):
                cls = getattr(module, name)
                if not inspect.isclass(cls) or cls.__init__ is object.__init__ or issubclass(cls, BaseException):
                    continue
                parts = html.split(f'id="{target}.{name}"', 1)
                if len(parts) < 2 and f'id="{cls.__module__}.{name}"' in html:
                    continue  # documented under its home module on this page
                assert len(parts) == 2, f"api/{page.stem}: {target}.{name} has no section"
                signature = re.sub(r"<[^>]+>", "", parts[1].split('class="doc doc-contents', 1)[0])
                missing = [p for p in constructor_parameters(cls) if p not in signature]
                assert not missing, f"api/{page.stem}: {name}'s signature does not show {missing}"
