"""Whole-file and whole-module targets: every activation defined in one place.

``python -m verify check path/to/zoo.py`` (or ``pkg.module``) checks what the file
defines, never what it imports:

* ``acts.Activation`` specs (a module class that a spec describes is checked through
  its spec, once);
* ``nn.Module`` subclasses that build with no arguments and define ``forward``;
* ``torch.autograd.Function`` subclasses whose ``forward`` takes the input alone;
* zero-argument factories: functions annotated to return an ``nn.Module`` or an
  ``Activation`` (a function is never called just to find out what it is).

Everything else the file defines that looks like an activation is listed as skipped,
with the reason, so nothing is dropped silently. What it imports is checked only when
asked (``--imported``).
"""

from __future__ import annotations

import ast
import inspect
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from acts.spec import Activation
from verify.targets import _import as load_module
from verify.targets import _load_file as load_file


@dataclass(frozen=True)
class Found:
    """What a whole-file target holds: the targets to check, in definition order, and
    (name, reason) for each candidate left out."""

    targets: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]


def is_whole(target: str) -> bool:
    """A target naming a file or a module rather than one object in it."""
    return ":" not in target and (target.endswith(".py") or "/" in target or "." in target)


# Asks for the activations a whole file imports as well: the worker that imports the
# file is sent the target string alone, so the request travels on it.
WITH_IMPORTED = "+imported"


def discover(where: str) -> Found:
    """What ``where`` defines; with :data:`WITH_IMPORTED` appended, what it imports too."""
    imports = where.endswith(WITH_IMPORTED)
    where = where.removesuffix(WITH_IMPORTED)
    module = load_file(where) if where.endswith(".py") or "/" in where else load_module(where)
    targets: list[str] = []
    skipped: list[tuple[str, str]] = []
    specs = {name: obj for name, obj in vars(module).items() if isinstance(obj, Activation)}
    described = {spec.module: name for name, spec in specs.items()}
    brought: list[str] = []
    for name, obj in vars(module).items():
        if name.startswith("_"):
            continue
        if not _defined_here(obj, module, specs):
            if imports and (inspect.isclass(obj) or inspect.isfunction(obj)) and _why_not(name, obj, described) is None:
                brought.append(f"{where}:{name}")
            continue
        reason = _why_not(name, obj, described)
        if reason is None:
            targets.append(f"{where}:{name}")
        elif reason:
            skipped.append((name, reason))
    return Found(tuple(targets + brought), tuple(skipped))


def only_imports(where: str) -> list[str] | None:
    """The names a ``.py`` file imports when, read without running it, it defines nothing
    but imports (None when it defines anything, or is not a file Python can parse): such
    a file is answered at once, before its imports are paid for."""
    try:
        tree = ast.parse(Path(where).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None
    names = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            names += [a.asname or a.name for a in node.names if a.name != "*"]
        elif isinstance(node, ast.Import):  # a module, never an activation
            continue
        elif not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):  # a docstring
            return None
    return [n for n in names if not n.startswith("_")] or None


def definition_line(path: str, attr: str) -> int | None:
    """The line where ``path`` defines ``attr`` (its first dotted part) at its top level:
    a class, a function or an assignment; None when the file or the name is not found."""
    name = attr.partition(".")[0]
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return node.lineno
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return node.lineno
    return None


def _defined_here(obj: Any, module: Any, specs: dict[str, Activation]) -> bool:
    if isinstance(obj, Activation):
        return True
    return getattr(obj, "__module__", None) == module.__name__ and (inspect.isclass(obj) or inspect.isfunction(obj))


def _why_not(name: str, obj: Any, described: dict[Any, str]) -> str | None:
    """None: check it; a reason: list it as skipped; "": not a candidate at all."""
    if isinstance(obj, Activation):
        return None
    if inspect.isclass(obj) and issubclass(obj, nn.Module):
        if obj in described:
            return f"checked through its spec {described[obj]}"
        if obj.forward is nn.Module.forward:
            return "defines no forward (a base class)"
        if inspect.isabstract(obj):
            return "an abstract class"
        try:
            obj()
        except Exception as exc:
            return f"does not build with no arguments ({type(exc).__name__}: {_first_line(exc)}); name it as a target with --init"
        return None
    if inspect.isclass(obj) and issubclass(obj, torch.autograd.Function):
        if obj.forward is torch.autograd.Function.forward:
            return "defines no forward (a base class)"
        inputs = _forward_inputs(obj)
        if inputs != 1:
            return f"its apply takes {inputs} arguments, not the input alone; check the module that calls it"
        return None
    if inspect.isfunction(obj):
        returns = _return_type(obj)
        takes_nothing = all(p.default is not p.empty or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
                            for p in inspect.signature(obj).parameters.values())
        if takes_nothing and inspect.isclass(returns) and issubclass(returns, (nn.Module, Activation)):
            return None
        if takes_nothing:
            return "a function with no arguments that is not annotated to return an nn.Module: name it as a target to check it as a factory"
        return "a plain function: name it as a target (file.py:name) to check it"
    return ""


def _forward_inputs(cls: type[torch.autograd.Function]) -> int:
    params = list(inspect.signature(cls.forward).parameters.values())
    own = cls.__mro__[: cls.__mro__.index(torch.autograd.Function)]
    if not any("setup_context" in vars(base) for base in own):  # forward(ctx, ...)
        params = params[1:]
    return len([p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty])


def _return_type(fn: Any) -> Any:
    try:
        return typing.get_type_hints(fn).get("return")
    except Exception:  # an annotation that does not resolve says nothing
        return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""
