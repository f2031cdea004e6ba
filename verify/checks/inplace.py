"""`inplace`: the in-place variant really works in place and is autograd-safe.

For a subject with an in-place variant (a spec's ``inplace``, a module's ``inplace``
flag), compared with its out-of-place form at the same parameters (for a subject that
always works in place, a Function that overwrites its input and marks it dirty: the
same subject called on a copy of its input). A variant the subject declines with
``NotImplementedError`` is skipped with its message:

* called on a leaf that requires grad it raises a RuntimeError (autograd's own
  refusal), rather than overwriting the leaf silently;
* on drawn inputs, contiguous and non-contiguous, in float64 and float32, it returns
  a tensor over its input's storage (same data pointer and strides), bumps the
  input's version counter, and equals the out-of-place result within
  :data:`~verify.tolerances.INPLACE_ULPS` (torch's own in-place activations are
  bitwise equal; one rounding of slack lets a hand-written in-place form reassociate);
* on a non-leaf input in an autograd graph (a copy of a leaf), in float64, it works in
  place too, its backward runs (an input saved and then overwritten trips autograd's
  version check), and its input and parameter gradients match the out-of-place ones
  within :data:`~verify.tolerances.INPLACE_GRAD_ULPS` of the incoming gradient's size.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from verify import tolerances as tol
from verify.checks._grad import sample_strategy
from verify.checks._layout import (
    CALL_ERRORS,
    Fn,
    Problem,
    dtype_name,
    first_line,
    noncontiguous,
    out_of_place,
    probe_input,
    same_bits,
    search,
    tracked_copy,
    ulps_apart,
    upstream_grad,
    value_and_grads,
    worst,
)
from verify.checks.base import Context, Outcome, check, failed, passed, skipped
from verify.strategies import to_tensor
from verify.subject import Subject

DTYPES = (torch.float64, torch.float32)
GRAD_DTYPE = torch.float64
# autograd's version check, when a tensor saved for the backward was written over.
OVERWRITTEN = "modified by an inplace operation"


def overwrote_saved(exc: BaseException) -> str | None:
    """Why a backward failed, in the user's terms, when autograd's version check
    stopped it: the in-place write overwrote a tensor saved for the backward."""
    if not isinstance(exc, RuntimeError) or OVERWRITTEN not in str(exc):
        return None
    return ("the in-place write overwrites a tensor autograd saved for the backward (an earlier op in the forward "
            "saved its input or output, then the forward wrote into it): write into a fresh tensor, or compute "
            f"what the backward needs before overwriting it ({first_line(exc).split('. Hint:')[0]})")


@check("inplace")
def check_inplace(subject: Subject, ctx: Context) -> Outcome:
    """The in-place variant overwrites its input's storage, matches the out-of-place one and is autograd-safe."""
    if subject.inplace_declined is not None:
        return skipped(f"{subject.name} declines the in-place mode: {subject.inplace_declined}")
    if not subject.has_inplace:
        return skipped(f"{subject.name} has no in-place variant")
    pairs = {dt: _pair(subject, dt, ctx.device) for dt in DTYPES}
    details: dict[str, Any] = {"dtypes": [dtype_name(dt) for dt in DTYPES], "gradient_dtype": dtype_name(GRAD_DTYPE)}
    probe = probe_input(subject)
    leaf, leaf_says = _leaf(pairs[GRAD_DTYPE][1], to_tensor(probe, GRAD_DTYPE, ctx.device))
    details["leaf"] = leaf
    if leaf in ("overwrote", "raised"):
        return failed(str(leaf_says), details={**details, "leaf_error": leaf_says})
    if leaf == "refused":
        details["leaf_error"] = leaf_says
    worst_seen = {"value_ulps": 0.0, "gradient_ulps": 0.0}

    def first_problem(a: Any) -> Problem | None:
        for dt in DTYPES:
            fo, fi = pairs[dt]
            problem = _values(fo, fi, to_tensor(a, dt, ctx.device), worst_seen)
            if problem is not None:
                return f"{dtype_name(dt)}, {problem[0]}", {"dtype": dtype_name(dt), **problem[1]}
        fo, fi = pairs[GRAD_DTYPE]
        problem = _gradients(subject, fo, fi, to_tensor(a, GRAD_DTYPE, ctx.device), worst_seen)
        if problem is not None:
            return f"{dtype_name(GRAD_DTYPE)}, {problem[0]}", {"dtype": dtype_name(GRAD_DTYPE), **problem[1]}
        return None

    found = search(sample_strategy(subject, None), first_problem, ctx.profile, probe)
    if found is not None:
        example, (reason, more) = found
        return failed(reason, details={**details, **more}, smallest_input=example)
    details.update(max_value_ulps=worst_seen["value_ulps"], max_gradient_ulps=worst_seen["gradient_ulps"])
    if leaf == "kept":
        return failed(str(leaf_says), details=details)
    if subject.always_inplace:
        details["always_inplace"] = True
    return passed(("always in place (it overwrites its input and marks it dirty): " if subject.always_inplace else "")
                  + "in place (same storage, version bumped), equal to out-of-place, gradients match, "
                  "leaf refused", details=details)


def _pair(subject: Subject, dtype: torch.dtype, device: str) -> tuple[Fn, Fn]:
    """The out-of-place and in-place instances, with the same parameter values."""
    fo, _ = out_of_place(subject.instance(dtype, device))
    fi = subject.instance(dtype, device, inplace=True)
    if isinstance(fo, nn.Module) and isinstance(fi, nn.Module):
        state = fo.state_dict()
        if state.keys() == fi.state_dict().keys():
            fi.load_state_dict(state)
    return fo, fi


def _leaf(fi: Fn, x: Tensor) -> tuple[str, str | None]:
    """How the variant treats a leaf that requires grad: ("refused", autograd's
    message), ("overwrote", why that is wrong), ("kept", why that is wrong), or
    ("raised", the message of an error that is not autograd's RuntimeError)."""
    leaf = x.detach().clone().requires_grad_()
    before, version = leaf.detach().clone(), leaf._version
    try:
        fi(leaf)
    except RuntimeError as exc:
        return "refused", first_line(exc)
    except CALL_ERRORS as exc:
        return "raised", f"on a leaf that requires grad it raised {first_line(exc)}, not autograd's RuntimeError"
    if leaf._version != version or not same_bits(leaf, before):
        return "overwrote", ("it silently overwrote a leaf that requires grad: autograd must refuse that "
                             "(write under autograd, or mark the input dirty in a Function)")
    return "kept", "it accepted a leaf that requires grad without autograd's refusal, and left it unchanged"


def _works_in_place(x: Tensor, y: Any, ptr: int, stride: tuple[int, ...], version: int,
                    layout: str) -> Problem | None:
    if not isinstance(y, Tensor):
        return f"{layout} input: returned {type(y).__name__}, not a tensor", {"layout": layout}
    if y.data_ptr() != ptr or tuple(y.stride()) != stride or y.shape != x.shape:
        return (
            f"{layout} input: returned a tensor that is not its input (new storage or another view): "
            "the variant is not in place",
            {"layout": layout, "same_storage": y.data_ptr() == ptr, "same_strides": tuple(y.stride()) == stride},
        )
    if x._version == version:
        return (f"{layout} input: the input's version counter did not move: the write bypassed autograd "
                "(x.data or no_grad), which then cannot see that saved tensors changed",
                {"layout": layout, "version": version})
    return None


def _values(fo: Fn, fi: Fn, x: Tensor, worst_seen: dict[str, float]) -> Problem | None:
    for layout, xl in (("contiguous", x.clone()), ("non-contiguous", noncontiguous(x))):
        with torch.no_grad():
            want = fo(noncontiguous(x) if layout == "non-contiguous" else x.clone())
        ptr, stride, version = xl.data_ptr(), tuple(xl.stride()), xl._version
        y = fi(xl)
        problem = _works_in_place(xl, y, ptr, stride, version, layout)
        if problem is not None:
            return problem
        d, where = worst(ulps_apart(y, want))
        worst_seen["value_ulps"] = max(worst_seen["value_ulps"], d)
        if d > tol.INPLACE_ULPS:
            return (
                f"{layout} input: the in-place result differs from the out-of-place one by {d:.3g} ulps at {where} "
                f"({float(y[where]):.6g} vs {float(want[where]):.6g})",
                {"layout": layout, "ulps": d, "at": list(where), "bound_ulps": tol.INPLACE_ULPS},
            )
    return None


def _gradients(subject: Subject, fo: Fn, fi: Fn, x: Tensor,
               worst_seen: dict[str, float]) -> Problem | None:
    leaf_o, inp_o = tracked_copy(x)
    params_o = subject.parameters(fo)
    gy = upstream_grad(x.shape, x.dtype, x.device)
    _, want = value_and_grads(fo, inp_o, [p for _, p in params_o], gy, wrt=leaf_o)
    leaf = x.detach().clone().requires_grad_()
    inp = leaf * 1  # not a leaf: autograd lets an in-place op overwrite it
    ptr, stride, version = inp.data_ptr(), tuple(inp.stride()), inp._version
    try:
        y = fi(inp)
    except CALL_ERRORS as exc:
        return f"it raised {first_line(exc)} on a non-leaf input that requires grad", {"error": first_line(exc)}
    problem = _works_in_place(inp, y, ptr, stride, version, "non-leaf (requires grad)")
    if problem is not None:
        return problem
    if not y.requires_grad:
        return "the in-place output carries no gradient back to the input", {}
    params = subject.parameters(fi)
    try:
        got = torch.autograd.grad(y, [leaf, *(p for _, p in params)], gy, allow_unused=True)
    except RuntimeError as exc:
        why = overwrote_saved(exc)
        return (f"its backward fails: {why}" if why else f"its backward raised {first_line(exc)}",
                {"error": first_line(exc)})
    names = ["input", *(n for n, _ in params)]
    scales: list[float | Tensor] = [gy, *(float(gy.abs().sum()) for _ in params)]
    for name, g, w, scale in zip(names, got, want, scales, strict=True):
        if g is None and w is None:
            continue
        if g is None or w is None:
            return f"the {name} gradient is {'missing' if g is None else 'present'} in place but not out of place", {}
        d, where = worst(ulps_apart(g, w, scale))
        worst_seen["gradient_ulps"] = max(worst_seen["gradient_ulps"], d)
        if d > tol.INPLACE_GRAD_ULPS:
            return (
                f"the {name} gradient of the in-place variant differs from the out-of-place one by {d:.3g} ulps at "
                f"{where} ({float(g[where]):.6g} vs {float(w[where]):.6g}): a saved tensor was overwritten",
                {"what": f"{name} gradient", "ulps": d, "at": list(where), "bound_ulps": tol.INPLACE_GRAD_ULPS},
            )
    return None
