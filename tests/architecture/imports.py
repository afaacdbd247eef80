"""The import graph of src/adaspike, read from the source with ast (imports inside functions count too)."""
from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "adaspike"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in (SRC / PACKAGE).rglob("*.py")}


def _resolve(name: str, node: ast.ImportFrom | ast.Import, here: str, is_package: bool, known: set[str]) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = here if is_package else here.rpartition(".")[0]
    for _ in range(node.level - 1):
        base = base.rpartition(".")[0]
    target = f"{base}.{node.module}" if node.level and node.module else (base if node.level else node.module)
    # `from pkg import mod` names a submodule when one exists; otherwise it names an attribute of pkg
    out = []
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        out.append(sub if sub in known else target)
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> the adaspike modules it imports (anywhere in its body)."""
    mods = modules()
    known = set(mods)
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        deps: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _resolve(name, node, name, path.name == "__init__.py", known):
                    # importing a.b.c runs a/__init__ and a/b/__init__ too: depend on the nearest known module
                    while target and target not in known:
                        target = target.rpartition(".")[0]
                    if target and target.startswith(PACKAGE) and target != name:
                        deps.add(target)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


# --- the architecture page's diagram, drawn from the same graph ---------------------------------------------------

PAGE = SRC.parent / "docs" / "pages" / "architecture.md"
BEGIN = "<!-- diagram: the import graph (regenerate: python tests/architecture/imports.py) -->\n"
END = "<!-- end diagram -->"


def floor_of(module: str) -> str:
    """The subpackage a module belongs to (``adaspike`` for the package root)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else PACKAGE


def floor_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """subpackage -> the other subpackages its modules import."""
    out: dict[str, set[str]] = {}
    for module, deps in graph.items():
        here = floor_of(module)
        out.setdefault(here, set()).update(floor_of(d) for d in deps if floor_of(d) != here)
    return out


def levels(floors: dict[str, set[str]]) -> dict[str, int]:
    """Each subpackage's floor: 0 for one that imports no other, else one above the highest it imports."""
    out: dict[str, int] = {}

    def level(name: str) -> int:
        if name not in out:
            out[name] = 1 + max((level(d) for d in floors.get(name, ())), default=-1)
        return out[name]

    for name in floors:
        level(name)
    return out


def diagram(graph: dict[str, set[str]] | None = None) -> str:
    """The page's diagram: every subpackage on its floor, top floor first, with every subpackage it imports."""
    floors = floor_graph(import_graph() if graph is None else graph)
    floor = levels(floors)
    order = sorted(floors, key=lambda n: (-floor[n], n == PACKAGE, n))
    width = max(map(len, order))
    lines = [f"floor  {'package':<{width}}  imports (every arrow points to a lower floor)"]
    previous = None
    for name in order:
        deps = sorted(floors[name], key=lambda d: (-floor[d], d == PACKAGE, d))
        number = f"{floor[name]:>3}" if floor[name] != previous else "   "
        previous = floor[name]
        lines.append(f"{number}    {name:<{width}}  " + (f"─► {', '.join(deps)}" if deps else "(none)"))
    return "```text\n" + "\n".join(lines) + "\n```\n"


def page_diagram(text: str) -> str:
    """The diagram between the page's markers."""
    start = text.index(BEGIN) + len(BEGIN)
    return text[start:text.index(END, start)]


def write_page() -> bool:
    """Rewrite the page's diagram from the import graph; True when it changed."""
    text = PAGE.read_text()
    old = page_diagram(text)
    new = diagram()
    if old != new:
        start = text.index(BEGIN) + len(BEGIN)
        PAGE.write_text(text[:start] + new + text[start + len(old):])
    return old != new


if __name__ == "__main__":
    print(f"updated {PAGE}" if write_page() else f"{PAGE} is up to date")
