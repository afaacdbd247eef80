"""Fused scan backends: numba on CPU, Triton on CUDA, registered lazily for ``adaspike.core.scan``.

``register_default_backends()`` is called by the scan on its first "auto" dispatch. It imports nothing heavy:
each backend's kernels are imported and compiled on the first call that needs them. A missing numba, Triton,
compiler or GPU makes that backend decline (one log line says why) and the scan uses the reference path.
"""
from __future__ import annotations

import importlib.util
import logging
import os
from typing import Callable

import torch

from ..allocator import tune_allocator
from ..reference import reference_scan
from ..registry import Registry
from ..state import Backend, ScanRequest
from .layout import basic_support

log = logging.getLogger("adaspike")

_REGISTERED = False
_BACKENDS: Registry[tuple[Backend, Callable[[ScanRequest], bool]]] = Registry("scan backend",
                                                                               also=("auto", "reference"))
_AUTO_ORDER: list[str] = []


def register_backend(name: str, fn: Backend, supports: Callable[[ScanRequest], bool], auto: bool = True,
                     replace: bool = False) -> None:
    """Add a backend; with ``auto`` it is tried (in registration order) before the reference.

    A name taken by another backend raises unless ``replace``; registering the same pair again is a no-op.
    """
    entry = _BACKENDS.get(name)
    _BACKENDS.add(name, entry if entry == (fn, supports) else (fn, supports), replace=replace)
    if auto and name not in _AUTO_ORDER:
        _AUTO_ORDER.append(name)


def available_backends() -> list[str]:
    register_default_backends()
    return ["reference", *_BACKENDS]


class LazyBackend:
    """A backend whose module is imported (and whose kernels compile) on first use; it disables itself,
    logging once, when the import or compilation fails."""

    def __init__(self, name: str, module: str, function: str, device_type: str, requirement: str, hint: str):
        self.name, self.module, self.function = name, module, function
        self.device_type, self.requirement, self.hint = device_type, requirement, hint
        self.failed = importlib.util.find_spec(requirement) is None
        self._fn = None
        self._announced = False

    def supports(self, req) -> bool:
        if not basic_support(req, self.device_type):
            return False
        if self.failed:
            self._announce(f"{self.requirement} is not installed")
            return False
        return True

    def _announce(self, why: str) -> None:
        if not self._announced:
            self._announced = True
            log.warning("adaspike: %s backend unavailable (%s); using the reference scan on %s. %s",
                        self.name, why, self.device_type, self.hint)

    def _load(self) -> bool:
        # an import, not something to trace; disabled at call time, since the decorator at class definition
        # imports torch._dynamo (about 2 s) when adaspike is imported, even for `adaspike --help`
        return torch.compiler.disable(self._import)()

    def _import(self) -> bool:
        try:
            module = importlib.import_module(f"{__name__}.{self.module}")
            self._fn = getattr(module, self.function)
            return True
        except Exception as err:  # noqa: BLE001 - any import/compile failure means "fall back"
            self.failed = True
            self._announce(f"{type(err).__name__}: {err}")
            return False

    def __call__(self, req):
        if self._fn is None and not self._load():
            return reference_scan(req)
        try:
            return self._fn(req)
        except Exception as err:  # a call may compile: a compiler failure must not break training
            if _is_compile_error(err):
                self.failed, self._fn = True, None
                self._announce(f"compilation failed: {type(err).__name__}: {err}")
                return reference_scan(req)
            raise


def _is_compile_error(err: Exception) -> bool:
    names = {cls.__name__ for cls in type(err).__mro__}
    return bool(names & {"NumbaError", "TypingError", "LoweringError", "CompilationError", "OutOfResources",
                         "CalledProcessError", "OSError", "ImportError"})


NUMBA = LazyBackend("numba", "numba_backend", "numba_scan", "cpu", "numba",
                    "Install it with `pip install adaspike[fast]` for fused CPU kernels.")
TRITON = LazyBackend("triton", "triton_backend", "triton_scan", "cuda", "triton",
                     "Install triton for fused GPU kernels.")


def register_default_backends() -> None:
    """Register the numba (CPU) and Triton (CUDA) backends once; cheap, compiles nothing until they run."""
    global _REGISTERED
    if _REGISTERED:
        return
    _REGISTERED = True
    tune_allocator()  # big folded-time buffers reused from the heap, not page-faulted in on every call
    register_backend("numba", NUMBA, NUMBA.supports)
    register_backend("triton", TRITON, TRITON.supports)


def select_backend(request: ScanRequest, backend: str) -> Backend:
    """The backend that runs ``request``: by name, or with "auto" the first registered one that supports it."""
    if backend == "auto":
        # ADASPIKE_BACKEND=reference (or a backend name) overrides automatic selection, e.g. for debugging
        forced = os.environ.get("ADASPIKE_BACKEND", "").strip()
        if forced and forced != "auto":
            if forced == "reference":
                return reference_scan
            register_default_backends()
            entry = _BACKENDS.get(forced)
            if entry is not None and entry[1](request):
                return entry[0]
            _announce_forced(forced, "is not registered" if entry is None else "does not support this scan")
            return reference_scan
        register_default_backends()
    elif backend != "reference":
        register_default_backends()
    if backend == "reference":
        return reference_scan
    if backend != "auto":
        fn, supports = _BACKENDS[backend]
        if not supports(request):
            raise ValueError(f"scan backend {backend!r} does not support this neuron/options")
        return fn
    for name in _AUTO_ORDER:
        fn, supports = _BACKENDS[name]
        if supports(request):
            return fn
    _announce_reference(request)
    return reference_scan


_ANNOUNCED: set[str] = set()


def _announce_forced(forced: str, why: str) -> None:
    """One log line per ADASPIKE_BACKEND value that cannot run a scan, instead of a silent reference loop."""
    if f"forced:{forced}" not in _ANNOUNCED:
        _ANNOUNCED.add(f"forced:{forced}")
        log.warning("adaspike: ADASPIKE_BACKEND=%s %s; the scan runs the reference loop", forced, why)


def _announce_reference(request: ScanRequest) -> None:
    """One log line per spike-rule type that no fused kernel runs (the reference loop is much slower)."""
    from .layout import spike_rule

    kind = type(request.spike_fn).__name__
    if spike_rule(request.spike_fn) is None and kind not in _ANNOUNCED:
        _ANNOUNCED.add(kind)
        log.info("adaspike: spike rule %s has no fused kernel; the scan runs the reference loop", kind)


__all__ = ["LazyBackend", "NUMBA", "TRITON", "available_backends", "register_backend", "register_default_backends",
           "select_backend"]
