"""A griffe extension for the API pages: show the keyword parameters a class passes on to its base's ``__init__``.

``LIF(shape, *, tau=..., **kw)`` forwards ``**kw`` to ``NeuronLayer.__init__`` (dt, method, threshold, reset,
surrogate, refractory, ...): without this the page shows ``**kw`` and hides them. For every class whose
``__init__`` ends in ``**name`` and calls ``super().__init__(..., **name)``, the base's parameters that the
subclass does not set itself replace ``**name`` in the documented signature (keyword-only, with their
defaults); ``**name`` stays only when the base takes ``**`` too. The code is not changed, only what
mkdocstrings renders. Loaded by docs/mkdocs.yml (``extensions:``); tests/docs/test_docs_api.py checks a built
page for the parameters.
"""
from __future__ import annotations

import ast
import textwrap

import griffe

__all__ = ["InheritedKeywords"]


class InheritedKeywords(griffe.Extension):
    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        done: set[str] = set()
        for cls in _classes(pkg):
            _expand(cls, done)


def _classes(obj: griffe.Object):
    for member in obj.members.values():
        if member.is_alias:
            continue
        if member.is_class:
            yield member
            yield from _classes(member)
        elif member.is_module:
            yield from _classes(member)


def _own_init(cls: griffe.Class) -> griffe.Function | None:
    init = cls.members.get("__init__")
    return None if init is None or init.is_alias else init


def _base_init(cls: griffe.Class, done: set[str]) -> griffe.Function | None:
    """The ``__init__`` that ``super().__init__`` reaches: the first in the MRO after ``cls`` that defines one."""
    try:
        mro = cls.mro()
    except Exception:  # an unresolvable base (outside the package): nothing to show
        return None
    for base in mro:
        init = _own_init(base)
        if init is not None:
            _expand(base, done)  # bases first, so chains of **kw forwarding expand fully
            return init
    return None


def _expand(cls: griffe.Class, done: set[str]) -> None:
    if cls.path in done:
        return
    done.add(cls.path)
    init = _own_init(cls)
    if init is None:
        return
    params = list(init.parameters)
    var_kw = next((p for p in params if p.kind is griffe.ParameterKind.var_keyword), None)
    if var_kw is None:
        return
    call = _super_init_call(init.source, var_kw.name)
    if call is None:
        return  # **kw goes somewhere else: say nothing we cannot see
    base = _base_init(cls, done)
    if base is None:
        return
    passed, named = call
    # the subclass's own parameters, and the base's that it fills itself (positionally or by name), stay out
    taken = {p.name for p in params} | named | {p.name for p in list(base.parameters)[1:1 + passed]}
    inherited = [griffe.Parameter(p.name, annotation=p.annotation, kind=griffe.ParameterKind.keyword_only,
                                  default=p.default, docstring=p.docstring)
                 for p in base.parameters
                 if p.name not in taken and p.name != "self"
                 and p.kind in (griffe.ParameterKind.keyword_only, griffe.ParameterKind.positional_or_keyword)
                 and p.default is not None]  # a base parameter with no default is one the subclass passes
    if not inherited:
        return
    keeps_var_kw = any(p.kind is griffe.ParameterKind.var_keyword for p in base.parameters)
    expanded = [p for p in params if p is not var_kw] + inherited + ([var_kw] if keeps_var_kw else [])
    init.parameters = griffe.Parameters(*expanded)


def _super_init_call(source: str, var_kw: str) -> tuple[int, set[str]] | None:
    """(number of positional arguments, keyword names) of the ``super().__init__(...)`` call that forwards
    ``**var_kw``; None when there is no such call."""
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "__init__"
                and isinstance(node.func.value, ast.Call) and getattr(node.func.value.func, "id", None) == "super"
                and any(k.arg is None and getattr(k.value, "id", None) == var_kw for k in node.keywords)):
            return len(node.args), {k.arg for k in node.keywords if k.arg is not None}
    return None
