"""Resolve a target string into subjects.

A target is a registry name (``silu``), an import path (``pkg.mod:Name``) or a file
path (``path/to/file.py:Name``). Every failure here is the user's mistake and raises
:class:`~verify.errors.TargetError` with a one-line reason.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

import acts
from acts.spec import Activation
from verify import subject as S
from verify.errors import TargetError, did_you_mean


def resolve(target: str, init: dict[str, Any] | None = None, params: dict[str, float] | None = None) -> S.Subject:
    """The subject a target names; ``params`` (``--param NAME=VALUE``) are set on every
    instance: a spec's parameters, or parameters and buffers of a built module."""
    subject = _resolve(target, init)
    if params:
        with_params(subject, params)
    return subject


def with_params(subject: S.Subject, params: dict[str, float]) -> S.Subject:
    """Set ``params`` on every instance of ``subject``; a name the subject does not have
    is the user's mistake."""
    if subject.spec is not None:
        unknown = sorted(set(params) - set(subject.spec.defaults()))
        if unknown:
            known = ", ".join(sorted(subject.spec.defaults())) or "none"
            raise TargetError(f"{subject.target} has no parameter {', '.join(map(repr, unknown))} (it has: {known})")
    else:
        S.set_values(subject.factory(), params, subject.target)  # raises TargetError on a bad name
    subject.overrides = {k: float(v) for k, v in params.items()}
    return subject


def _resolve(target: str, init: dict[str, Any] | None) -> S.Subject:
    init = init or {}
    if ":" not in target:
        try:
            spec = acts.get(target)
        except KeyError:
            hint = did_you_mean(target, acts.names())
            raise TargetError(
                f"unknown activation {target!r}{hint}: not a registered name (see `python -m verify list`), "
                "a file, or of the form pkg.mod:Name or path/to/file.py:Name"
            ) from None
        if init:
            raise TargetError(f"--init applies to a class target, not to the registered activation {target!r}")
        return S.from_spec(spec, target)
    where, _, attr = target.rpartition(":")
    if not where or not attr:
        raise TargetError(f"bad target {target!r}: expected pkg.mod:Name or path/to/file.py:Name")
    module = _load_file(where) if where.endswith(".py") or "/" in where else _import(where)
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            names = [n for n in dir(obj) if not n.startswith("_")]
            raise TargetError(f"{where} has no attribute {part!r}{did_you_mean(part, names)}") from None
    return from_object(obj, name=attr, target=target, init=init)


def from_object(obj: Any, name: str, target: str, init: dict[str, Any] | None = None) -> S.Subject:
    """A subject from a Python object of any of the supported kinds."""
    init = init or {}
    if init and not (inspect.isclass(obj) and issubclass(obj, nn.Module)):
        raise TargetError(f"--init applies to an nn.Module class; {target} is {_kind(obj)}")
    if isinstance(obj, Activation):
        return S.from_spec(obj, target)
    if isinstance(obj, nn.Module):
        return S.from_module(obj, name, target)
    if inspect.isclass(obj) and issubclass(obj, nn.Module):
        try:
            obj(**init)
        except Exception as exc:
            hint = "" if init else " (give its arguments with --init '{\"name\": value}')"
            raise TargetError(f"cannot build {target} with arguments {init}: {type(exc).__name__}: {exc}{hint}") from None
        return S.from_module_class(obj, init, name, target)
    if inspect.isclass(obj) and issubclass(obj, torch.autograd.Function):
        return S.from_function(obj, name, target)
    if callable(obj) and not inspect.isclass(obj):
        if _takes_no_arguments(obj):
            try:
                made = obj()
            except Exception as exc:
                raise TargetError(f"the factory {target} raised {type(exc).__name__}: {exc}") from None
            if isinstance(made, Activation):
                return S.from_spec(made, target)
            if isinstance(made, nn.Module):
                subject = S.from_module(made, name, target)
                subject.factory = obj
                return subject
            raise TargetError(f"the factory {target} returned {_kind(made)}, not an nn.Module")
        return S.from_callable(obj, name, target)
    raise TargetError(f"{target} is {_kind(obj)}: expected an Activation, an nn.Module class or instance, "
                      "a factory, an autograd.Function subclass or a callable")


def _kind(obj: Any) -> str:
    return f"a class {obj.__name__}" if inspect.isclass(obj) else f"a {type(obj).__name__}"


def _takes_no_arguments(fn: Any) -> bool:
    """A factory: a function that can be called with nothing (a builtin such as
    torch.tanh has no inspectable signature and is an activation, not a factory)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return all(p.default is not p.empty or p.kind is p.VAR_KEYWORD for p in params) and not any(
        p.kind is p.VAR_POSITIONAL for p in params
    )


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise TargetError(f"cannot import {name!r}: {exc}") from None
    except Exception as exc:
        raise TargetError(f"importing {name!r} raised {type(exc).__name__}: {exc}") from None


def _load_file(path: str) -> Any:
    file = Path(path)
    if not file.is_file():
        raise TargetError(f"no such file: {path}")
    # A stable, unique module name per file, so two files named acts.py do not clash
    # and a worker process that re-resolves the target gets the same module.
    digest = hashlib.sha1(str(file.resolve()).encode()).hexdigest()[:10]
    mod_name = f"_verify_target_{file.stem}_{digest}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, file)
    if spec is None or spec.loader is None:
        raise TargetError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    sys.path.insert(0, str(file.resolve().parent))
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[mod_name]
        raise TargetError(f"loading {path} raised {type(exc).__name__}: {exc}") from None
    finally:
        sys.path.pop(0)
    return module
