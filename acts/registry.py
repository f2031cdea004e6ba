"""The registry of activations: lookup by name, iteration, third-party plugins.

A third-party package registers its own activations through the entry-point group
``acts.activations``; each entry point names an :class:`~acts.spec.Activation`, an
iterable of them, or a zero-argument callable returning either.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Iterator
from importlib.metadata import entry_points

from acts.spec import Activation

ENTRY_POINT_GROUP = "acts.activations"

_REGISTRY: dict[str, Activation] = {}
_ALIASES: dict[str, str] = {}
_loaded = False
# Entry points that failed to load, (name, one-line reason): one broken plugin must not take the registry down.
load_errors: list[tuple[str, str]] = []

_NOT_ACTIVATIONS = {"spec", "registry", "_util", "_oracle", "__main__"}


def register(spec: Activation, *, replace: bool = False) -> Activation:
    """Add ``spec`` to the registry; a name already taken is an error unless ``replace``."""
    if not isinstance(spec, Activation):
        raise TypeError(f"register() takes an acts.Activation, not {type(spec).__name__}")
    for name in (spec.name, *spec.aliases):
        owner = _ALIASES.get(name, name if name in _REGISTRY else None)
        if owner is not None and owner != spec.name and not replace:
            raise ValueError(f"activation name {name!r} is already registered by {owner!r}")
        if name == spec.name and name in _REGISTRY and not replace:
            raise ValueError(f"activation {name!r} is already registered")
    _REGISTRY[spec.name] = spec
    for alias in spec.aliases:
        _ALIASES[alias] = spec.name
    return spec


def unregister(name: str) -> None:
    spec = _REGISTRY.pop(name)
    for alias in spec.aliases:
        _ALIASES.pop(alias, None)


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    import acts

    for info in pkgutil.iter_modules(acts.__path__):
        if info.name not in _NOT_ACTIVATIONS:
            importlib.import_module(f"acts.{info.name}")
    load_entry_points()


def load_entry_points() -> None:
    """Register what installed packages advertise under ``acts.activations``."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
            if callable(obj) and not isinstance(obj, Activation):
                obj = obj()
            specs: Iterable[Activation] = [obj] if isinstance(obj, Activation) else obj
            for spec in specs:
                if spec.name not in _REGISTRY:
                    register(spec)
        except Exception as exc:  # a broken plugin is reported, never fatal
            load_errors.append((ep.name, f"{type(exc).__name__}: {exc}"))


def get(name: str) -> Activation:
    _load()
    key = _ALIASES.get(name, name)
    try:
        return _REGISTRY[key]
    except KeyError:
        raise KeyError(name) from None


def names() -> list[str]:
    _load()
    return sorted(_REGISTRY)


def all_activations() -> Iterator[Activation]:
    _load()
    for name in sorted(_REGISTRY):
        yield _REGISTRY[name]
