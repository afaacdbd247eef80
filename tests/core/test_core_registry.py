"""The one registry shape: names and aliases, the duplicate check, the listing and the one error text."""
from __future__ import annotations

import pytest

from adaspike.core import Registry, UnknownName


def test_register_aliases_and_listing():
    things = Registry("thing")

    @things.register("first", "one")
    def first():
        return 1

    things.add("second", 2)
    assert things["one"] is first and things["first"] is first
    assert things.names() == ["first", "second"]
    assert set(things) == {"first", "one", "second"} and len(things) == 3
    assert "one" in things and "nope" not in things and [] not in things


def test_duplicates_raise_but_the_same_entry_again_does_not():
    things = Registry("thing", {"a": 1})
    things.add("a", 1)
    with pytest.raises(ValueError, match="thing name 'a' is already registered"):
        things.add("a", 2)
    things.add("a", 2, replace=True)
    assert things["a"] == 2


def test_unknown_name_is_one_error_text_and_both_error_types():
    things = Registry("thing", {"b": 1, "a": 2}, also=("auto",))
    with pytest.raises(UnknownName) as err:
        things["c"]
    assert str(err.value) == "unknown thing 'c'; choose one of ['auto', 'a', 'b']"
    assert isinstance(err.value, KeyError) and isinstance(err.value, ValueError)
    assert things.get("c") is None and things.get([]) is None


def test_removing_a_name_removes_its_aliases():
    things = Registry("thing")
    things.add("x", object(), "y")
    things.pop("x")
    assert len(things) == 0 and things.names() == []


def test_the_library_registries_share_the_shape():
    from adaspike.core.backends import _BACKENDS
    from adaspike.convert.neuron import NEURONS as CONVERSION_NEURONS
    from adaspike.core.surrogates import SURROGATES
    from adaspike.data import DATASETS
    from adaspike.encoding import ENCODERS
    from adaspike.interop import CONVENTIONS, PROFILES, READERS
    from adaspike.layers import NEURONS
    from adaspike.models.registry import _BUILDERS
    from adaspike.retime import MAPS

    for registry in (_BACKENDS, SURROGATES, ENCODERS, CONVENTIONS, PROFILES, READERS, NEURONS, _BUILDERS, MAPS,
                     CONVERSION_NEURONS, DATASETS):
        assert isinstance(registry, Registry)


def test_packages_that_register_import_every_module_of_their_folder():
    """A model or dataset module registers itself on import: no import list to edit when one is added."""
    import pkgutil
    import sys

    import adaspike.data
    import adaspike.models

    for package in (adaspike.data, adaspike.models):
        for module in pkgutil.iter_modules(package.__path__):
            assert f"{package.__name__}.{module.name}" in sys.modules
