"""The allocator setting: large buffers are reused from the heap instead of page-faulted in on every call."""
from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

glibc = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                           reason="mallopt tuning applies to glibc only")

# write and free 64 MiB, then write 40 MiB (above glibc's largest own mmap threshold, 32 MiB); report the minor
# page faults of the second buffer. (The same size twice is a flaky probe: an aligned request of the freed
# chunk's own size does not fit in it when a small allocation landed after it, about 1 process in 3.)
PROBE = """
import resource, torch
from adaspike.core.allocator import tune_allocator
applied = tune_allocator()
x = torch.empty(16 << 20)
x.fill_(1.0)
del x
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
y = torch.empty(10 << 20)
y.fill_(1.0)
del y
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _probe(setting: str) -> tuple[bool, int]:
    env = {**os.environ, "ADASPIKE_MALLOC_TUNING": setting, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
    applied, faults = out.stdout.split()
    return applied == "True", int(faults)


@glibc
def test_tuned_heap_reuses_a_large_buffer_without_page_faults():
    applied, faults = _probe("1")
    assert applied
    assert faults < 1000                  # the 40 MiB come from the freed 64 MiB in the heap
    untouched, untuned_faults = _probe("0")
    assert not untouched
    assert untuned_faults > 10_000        # 10 240 pages of 4 KiB mapped afresh


def test_it_is_applied_once_per_process(monkeypatch):
    from adaspike.core import allocator

    calls = []
    monkeypatch.setattr(allocator, "_applied", None)
    monkeypatch.setattr(allocator, "_glibc_mallopt", lambda: (lambda param, value: calls.append(param) or 1))
    assert allocator.tune_allocator() and allocator.tune_allocator()
    assert sorted(calls) == [-3, -1]      # mmap and trim threshold, once


def test_opt_out_leaves_the_allocator_alone(monkeypatch):
    from adaspike.core import allocator

    monkeypatch.setattr(allocator, "_applied", None)
    monkeypatch.setenv("ADASPIKE_MALLOC_TUNING", "off")
    monkeypatch.setattr(allocator, "_glibc_mallopt", lambda: pytest.fail("mallopt must not be called"))
    assert allocator.tune_allocator() is False
