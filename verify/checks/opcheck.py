"""`opcheck`: every ``torch.library`` custom operator the subject dispatches to passes
``torch.library.opcheck``.

A fused kernel wrapped as a custom operator is opaque to the other checks: they call
it and judge its numbers, but not what it declares about itself. ``opcheck`` holds an
operator to its registration: the schema's declared mutations and fresh outputs
(``test_schema``), an autograd kernel where it is used under autograd
(``test_autograd_registration``), a fake kernel that gives the real outputs' shapes,
strides and dtypes (``test_faketensor``), and eager and AOT-traced results and
gradients that agree (``test_aot_dispatch_dynamic``). A wrong fake kernel breaks every
``torch.compile`` user and no eager check sees it.

The operators are found by watching one forward and backward of the subject, on a
float64 input and on a float32 one, both requiring grad: each call to an operator
outside torch's own namespaces is kept with a copy of its arguments, and each distinct
call (operator, argument dtypes and shapes) is checked with those arguments. An
argument requires grad only where the subject called the operator under autograd
(grad enabled and an input that requires grad): an operator called inside an
``autograd.Function``'s forward, or inside another operator's backward, has its
gradient from there, and asking it for its own would be a false alarm.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

import torch
from torch import Tensor
from torch.overrides import TorchFunctionMode

from verify.checks._layout import dtype_name, first_line, probe_input
from verify.checks.base import Context, Outcome, check, failed, passed, skipped
from verify.internals import TorchDispatchMode, tree_leaves
from verify.strategies import to_tensor
from verify.subject import Subject

# torch's own operator namespaces (the dispatcher's built-ins); an operator in any
# other namespace was registered by a library or a user through torch.library.
TORCH_NAMESPACES = frozenset({
    "aten", "prims", "prim", "_ops", "quantized", "_quantized", "quantization", "profiler", "debugprims",
    "rngprims", "inductor", "inductor_prims", "mkldnn", "mkldnn_prepacked", "mkl", "onednn", "sparse", "c10d",
    "_c10d_functional", "_c10d_functional_autograd", "symm_mem", "static_runtime", "_dtensor", "_native",
    "export", "higher_order",
})

# The dtypes the watched calls run in: float64, in which the gradient checks judge the
# subject, and float32, in which it trains (a kernel may take the fused path only there).
TRACED_DTYPES = (torch.float64, torch.float32)

# An operator's call: the operator, its arguments and keyword arguments (copies, leaves).
Call = tuple[Any, tuple[Any, ...], dict[str, Any]]


@check("opcheck")
def check_opcheck(subject: Subject, ctx: Context) -> Outcome:
    """torch.library.opcheck on every custom operator the subject dispatches to."""
    if not hasattr(torch.library, "opcheck"):
        return skipped(f"torch.library.opcheck needs torch >= 2.4 (this is torch {torch.__version__})")
    # Watching the callers too loads Dynamo (seconds); opcheck loads it anyway,
    # but a subject without a custom operator, the common case, must skip at once.
    if not any(custom_op_calls(subject, ctx, dtype, callers=False) for dtype in TRACED_DTYPES):
        return skipped("the subject calls no torch.library custom operator")
    calls: dict[tuple[Any, ...], Call] = {}
    for dtype in TRACED_DTYPES:
        for call in custom_op_calls(subject, ctx, dtype):
            calls.setdefault(_signature(call), call)
    checked: list[dict[str, Any]] = []
    for op, args, kwargs in calls.values():
        with warnings.catch_warnings():
            # A failing sub-test warns on its way (anomaly mode's traceback, the missing
            # autograd kernel); its exception is the verdict, reported below.
            warnings.simplefilter("ignore")
            # Each sub-test gives "SUCCESS" or the exception it raised (typed as str in torch).
            results: dict[str, Any] = torch.library.opcheck(op, args, kwargs, raise_exception=False)
        checked.append({
            "operator": op.name(), "inputs": _describe(args, kwargs),
            "failures": {test: first_line(res) for test, res in results.items() if isinstance(res, BaseException)},
        })
    operators = sorted({c["operator"] for c in checked})
    bad = [c for c in checked if c["failures"]]
    details = {"operators": operators, "calls": checked}
    if bad:
        first = bad[0]
        tests = "; ".join(f"{test}: {msg}" for test, msg in first["failures"].items())
        more = f" (and {len(bad) - 1} more failing call(s))" if len(bad) > 1 else ""
        return failed(f"custom operator {first['operator']} fails torch.library.opcheck ({first['inputs']}): "
                      f"{tests}{more}", details=details)
    return passed(f"torch.library.opcheck passes for {', '.join(operators)} ({len(checked)} distinct call(s))",
                  details=details)


def custom_op_calls(subject: Subject, ctx: Context, dtype: torch.dtype, callers: bool = True) -> list[Call]:
    """The custom-operator calls one forward and backward of the subject makes on an
    input of ``dtype`` that requires grad, each with copies of its arguments, in the
    order they were made; without ``callers`` no argument requires grad (the subject's
    grad mode where it calls each operator is not watched). An exception of the subject
    propagates when no call was seen (the subject is broken, not a custom operator);
    after one, what was seen stands (an operator without an autograd kernel may well
    make the backward raise)."""
    under_autograd: set[str] = set()
    seen: list[tuple[Any, tuple[Any, ...], dict[str, Any]]] = []

    class Callers(TorchFunctionMode):
        # Sees an operator where the subject calls it, with the subject's grad mode;
        # below the autograd kernel, where the dispatch mode watches, grad is off.
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if torch.is_grad_enabled() and any(isinstance(a, Tensor) and a.requires_grad
                                               for a in tree_leaves((args, kwargs))):
                under_autograd.add(str(getattr(func, "overloadpacket", func)))
            return func(*args, **kwargs)

    def watch(self: Any, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func.namespace not in TORCH_NAMESPACES:
            # Copied before the call: an operator may write into its input.
            seen.append((func, _copy(args, True), _copy(kwargs, True)))
        return func(*args, **kwargs)

    class Watch(TorchDispatchMode):
        pass

    # Set after the class is made: torch wraps a __torch_dispatch__ written in the class
    # body so that Dynamo skips it, and that wrapper's first call imports Dynamo
    # (seconds), a price every subject would pay here for a mode never compiled.
    Watch.__torch_dispatch__ = watch  # type: ignore[method-assign]

    fn = subject.instance(dtype, ctx.device)
    leaf = to_tensor(probe_input(subject), dtype, ctx.device).requires_grad_()
    try:
        with warnings.catch_warnings():
            # torch warns when a backward runs through an operator without an autograd
            # kernel; opcheck's test_autograd_registration says so as a verdict.
            warnings.simplefilter("ignore")
            with Callers() if callers else contextlib.nullcontext(), Watch():
                y = fn(leaf.clone())
                if isinstance(y, Tensor) and y.requires_grad:
                    torch.autograd.grad(y.sum(), [leaf], allow_unused=True)
    except Exception:
        if not seen:
            raise
    return [(op, _copy(args, str(op.overloadpacket) in under_autograd),
             _copy(kwargs, str(op.overloadpacket) in under_autograd)) for op, args, kwargs in seen]


def _copy(tree: Any, grad: bool) -> Any:
    """Arguments with every tensor a fresh leaf holding the same values; a floating one
    requires grad when ``grad`` and the original did."""
    if isinstance(tree, Tensor):
        leaf = tree.detach().clone()
        return leaf.requires_grad_(grad and tree.requires_grad and leaf.is_floating_point())
    if isinstance(tree, (tuple, list)):
        return type(tree)(_copy(t, grad) for t in tree)
    if isinstance(tree, dict):
        return {k: _copy(v, grad) for k, v in tree.items()}
    return tree


def _signature(call: Call) -> tuple[Any, ...]:
    """What makes two calls of an operator the same test: the operator, and each
    argument's dtype, shape and grad requirement (tensors) or value (the rest)."""
    op, args, kwargs = call
    return (str(op), *(
        (dtype_name(a.dtype), tuple(a.shape), a.requires_grad) if isinstance(a, Tensor) else repr(a)
        for a in tree_leaves((args, kwargs))))


def _describe(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The tensor arguments of a call in a phrase: "float64 (2, 4, 3) requiring grad"."""
    tensors = [a for a in tree_leaves((args, kwargs)) if isinstance(a, Tensor)]
    parts = [f"{dtype_name(t.dtype)} {tuple(t.shape)}{' requiring grad' if t.requires_grad else ''}" for t in tensors]
    return ", ".join(parts) or "no tensor arguments"
