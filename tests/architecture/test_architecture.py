"""The architecture's contract: one-way floors, no import cycles, explicit public APIs, registries to extend."""
from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from imports import PAGE, SRC, cycles, diagram, import_graph, page_diagram  # noqa: E402

# Which subpackages each may import (besides itself). Data flows one way: data -> encoder -> model -> readout ->
# metrics/report; capabilities build on the core and never on each other unless listed here.
ALLOWED = {
    "core": set(),
    "report": {"core"},
    "layers": {"core"},
    "encoding": {"core"},
    "data": {"core", "report"},
    "models": {"core", "layers", "encoding"},
    "metrics": {"core", "layers"},
    "retime": {"core", "layers", "models", "data"},
    "interop": {"core", "layers", "models", "retime", "report"},
    "convert": {"core", "layers", "metrics", "interop"},
    "train": {"layers", "models", "report"},
    "studies": {"core", "layers", "models", "metrics", "retime", "interop", "convert", "data", "train", "report"},
    "cli": {"core", "layers", "encoding", "models", "metrics", "retime", "interop", "convert", "data", "train",
            "report", "studies", "adaspike"},
    "adaspike": set(),
}


def _floor(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "adaspike"


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_packages_import_only_lower_floors():
    bad = []
    for module, deps in import_graph().items():
        here = _floor(module)
        for dep in deps:
            there = _floor(dep)
            if there != here and there not in ALLOWED.get(here, set()):
                bad.append(f"{module} -> {dep}")
    assert bad == []


def test_allowed_is_exactly_what_the_code_imports():
    """No floor may import more than it does: an allowance nobody uses is a door left open (drop it here)."""
    used: dict[str, set[str]] = {floor: set() for floor in ALLOWED}
    for module, deps in import_graph().items():
        used.setdefault(_floor(module), set()).update(_floor(dep) for dep in deps if _floor(dep) != _floor(module))
    unused = {floor: sorted(ALLOWED[floor] - used[floor]) for floor in ALLOWED if ALLOWED[floor] - used[floor]}
    assert unused == {}


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


PACKAGES = sorted(p.parent.name for p in (SRC / "adaspike").glob("*/__init__.py"))


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_explicit_and_complete(package):
    """``__all__`` is a literal list of names that exist, with no modules in it."""
    path = SRC / "adaspike" / package / "__init__.py"
    tree = ast.parse(path.read_text())
    assigned = [node for node in tree.body
                if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
                or isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "__all__"]
    assert assigned, f"adaspike.{package} has no __all__"
    value = assigned[-1].value
    assert isinstance(value, (ast.List, ast.Tuple)) and all(isinstance(e, ast.Constant) for e in value.elts), \
        f"adaspike.{package}.__all__ must be a literal list of names"
    module = importlib.import_module(f"adaspike.{package}")
    names = [e.value for e in value.elts]
    assert len(names) == len(set(names))
    for name in names:
        obj = getattr(module, name)  # AttributeError names the missing export
        assert not isinstance(obj, type(ast)), f"adaspike.{package}.__all__ lists the module {name!r}"


def test_architecture_page_draws_the_import_graph():
    """docs/pages/architecture.md's diagram is the one drawn from the code (python tests/architecture/imports.py)."""
    assert page_diagram(PAGE.read_text()) == diagram()


def test_diagram_puts_each_package_above_what_it_imports():
    text = diagram({"adaspike.core.a": set(), "adaspike.layers.b": {"adaspike.core.a"},
                    "adaspike.models.c": {"adaspike.layers.b", "adaspike.core.a"}, "adaspike": set()})
    assert text.splitlines()[2:6] == ["  2    models    ─► layers, core", "  1    layers    ─► core",
                                      "  0    core      (none)", "       adaspike  (none)"]
