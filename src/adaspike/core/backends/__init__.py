"""Fused scan backends: numba on CPU, Triton on CUDA, registered lazily with ``adaspike.core.scan``.

``register_default_backends()`` is called by the scan on its first "auto" dispatch. It imports nothing heavy:
each backend's kernels are imported and compiled on the first call that needs them. A missing numba, Triton,
compiler or GPU makes that backend decline (one log line says why) and the scan uses the reference path.
"""
from __future__ import annotations

import importlib.util
import logging

import torch

from .layout import basic_support

log = logging.getLogger("adaspike")

_REGISTERED = False


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

    @torch.compiler.disable  # an import, not something to trace
    def _load(self) -> bool:
        try:
            module = importlib.import_module(f"{__name__}.{self.module}")
            self._fn = getattr(module, self.function)
            return True
        except Exception as err:  # noqa: BLE001 - any import/compile failure means "fall back"
            self.failed = True
            self._announce(f"{type(err).__name__}: {err}")
            return False

    def __call__(self, req):
        from ..scan import reference_scan

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
    """Register the numba (CPU) and Triton (CUDA) backends once; cheap, compiles nothing."""
    global _REGISTERED
    if _REGISTERED:
        return
    _REGISTERED = True
    from ..scan import register_backend

    register_backend("numba", NUMBA, NUMBA.supports)
    register_backend("triton", TRITON, TRITON.supports)


__all__ = ["register_default_backends", "NUMBA", "TRITON", "LazyBackend"]
