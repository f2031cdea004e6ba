"""Subjects: one uniform thing to test, whatever the target was.

A target may be an :class:`acts.Activation` spec, an ``nn.Module`` class or instance,
a zero-argument factory returning a module, an ``autograd.Function`` subclass or a
plain callable. A :class:`Subject` hides the difference: it builds fresh instances in
any dtype and device (and, for a spec, at any parameter setting), finds an input shape
the activation accepts, and knows its in-place variant, its kinks and its trainable
parameters. With no spec it infers what it can; a spec only adds declared facts.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import torch
from torch import Tensor, nn

from acts.spec import Activation, Kind
from verify.layout import Layout, LayoutError, infer_domain
from verify.layout import infer as infer_layout
from verify.layout import parse as parse_layout

Fn = Callable[[Tensor], Tensor]

# Channels used when nothing says how many: even, so that alternating-channel
# activations show both kinds, and more than one, so that channel mixing shows.
DEFAULT_CHANNELS = 4
# The most of a docstring a report shows as a description.
DOC_CHARS = 600


@dataclass
class Subject:
    name: str
    target: str
    # Builds a fresh activation (a module or a function) with its own parameters.
    factory: Callable[[], Fn]
    spec: Activation | None = None
    # Builds the in-place variant, when there is one.
    inplace_factory: Callable[[], Fn] | None = None
    function_cls: type[torch.autograd.Function] | None = None
    origin: str = "callable"  # spec | module | function | callable
    notes: list[str] = field(default_factory=list)
    # Values set on every instance (``--param NAME=VALUE``): a spec's parameter, or a
    # parameter or buffer of a built module (filled: broadcast to its shape).
    overrides: dict[str, float] = field(default_factory=dict)
    # What analysis found out about this subject, kept for the next check that asks
    # (verify.analysis.kinkscan: kinks per parameter setting).
    memo: dict[tuple, Any] = field(default_factory=dict, repr=False)
    # A layout the user states (``--layout``, see :func:`verify.layout.parse`).
    layout_hint: str | None = None

    # -- instances ---------------------------------------------------------------
    def instance(
        self,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device = "cpu",
        params: dict[str, float] | None = None,
        inplace: bool = False,
    ) -> Fn:
        """A fresh activation in ``dtype`` on ``device``; modules in eval mode (the
        checks judge the function, not a stochastic training mode). A subject that
        always works in place (:attr:`always_inplace`) is called on a fresh copy of its
        input unless ``inplace`` asks for its own in-place form."""
        fn = self._build(dtype, device, params, inplace)
        if not inplace and self.always_inplace:
            return on_a_copy(fn)
        return fn

    def _build(self, dtype: torch.dtype, device: str | torch.device, params: dict[str, float] | None,
               inplace: bool) -> Fn:
        """A fresh instance called in the checks' layout (features at dimension 1)."""
        return self.layout.adapt(self._raw(dtype, device, params, inplace))

    def _raw(self, dtype: torch.dtype, device: str | torch.device, params: dict[str, float] | None,
             inplace: bool) -> Fn:
        if self.spec is not None:
            values = {**self.spec.defaults(), **self.overrides, **(params or {})}
            module = self.spec.build(channels=self.channels if self.spec.per_channel else None, inplace=inplace,
                                     **values)
            fn: Fn = module.to(device=device, dtype=dtype).eval()
            # Parameters are made in float32; set them again in the checked dtype so a
            # float64 check sees 1.7159, not its float32 rounding.
            with torch.no_grad():
                for name, value in values.items():
                    p = getattr(fn, name, None)
                    if isinstance(p, torch.Tensor):
                        p.fill_(value)
            return fn
        elif inplace and self.inplace_factory is not None:
            fn = self.inplace_factory()
        elif inplace and not self.always_inplace:
            raise ValueError(f"{self.name} has no in-place variant")
        else:
            fn = self.factory()
        values = {**self.overrides, **(params or {})}
        if values:
            set_values(fn, values, self.name)
        if isinstance(fn, nn.Module):
            fn = fn.to(device=device, dtype=dtype).eval()
            if values and dtype == torch.float64:
                set_values(fn, values, self.name)  # exactly, not their float32 rounding
        return fn

    def parameters(self, fn: Fn) -> list[tuple[str, nn.Parameter]]:
        """The trainable parameters of an instance."""
        if isinstance(fn, nn.Module):
            return [(n, p) for n, p in fn.named_parameters() if p.requires_grad]
        return []

    @property
    def has_inplace(self) -> bool:
        """Whether there is an in-place form to check: a variant the subject offers and
        does not decline, or the subject itself when it always works in place."""
        return (self.inplace_factory is not None and self.inplace_declined is None) or self.always_inplace

    @cached_property
    def always_inplace(self) -> bool:
        """Whether the subject, with no in-place variant to choose, writes into its
        input under autograd: a Function that overwrites its input and marks it dirty
        (``ctx.mark_dirty``) returns that very tensor, with its version bumped. One that
        writes without marking it returns a view instead, and stays a mutation bug, as
        does a plain function that calls an in-place op (``x.relu_()``) with no flag to
        say it means to."""
        if self.spec is not None or self.inplace_factory is not None:
            return False
        try:
            fn = self._build(torch.float64, "cpu", None, False)
            leaf = _probe_values(self.base_shape).requires_grad_()
            x = leaf.clone()
            version = x._version
            y = fn(x)
        except Exception:  # the subject decides what it accepts; other checks say why
            return False
        marked_by_a_function = getattr(getattr(y, "grad_fn", None), "_forward_cls", None) is not None
        return y is x and x._version != version and marked_by_a_function

    @cached_property
    def inplace_declined(self) -> str | None:
        """Why the subject declines its in-place variant: the message of the
        ``NotImplementedError`` it raises when built or called in place (a base class
        that takes ``inplace=True`` from every activation of a zoo and refuses it where
        there is no in-place form), or None."""
        if self.inplace_factory is None:
            return None
        try:
            fn = self.layout.adapt(self.inplace_factory())
            with torch.no_grad():
                fn(_probe_values(self.base_shape))
        except NotImplementedError as exc:
            return str(exc).strip() or type(exc).__name__
        except Exception:  # any other failure is the inplace check's to judge
            return None
        return None

    @property
    def kind(self) -> str:
        if self.spec is not None:
            return self.spec.kind.value
        if self.function_cls is not None or self.custom_functions:
            return Kind.CUSTOM_BACKWARD.value
        if self.parameters(self.factory()):
            return Kind.PARAMETRIC.value
        return Kind.FORMULA.value

    # -- inputs ------------------------------------------------------------------
    @cached_property
    def channels(self) -> int:
        """The feature count of the subject's layout, at dimension 1 of the checks' inputs:
        the one its trainable parameters fix (``(C,)`` as PReLU's weight and Snake's
        alpha, ``(1, C, 1, 1)`` as ACON-C's p1), or the default."""
        if self.spec is not None:
            return DEFAULT_CHANNELS
        base = self.base_shape
        return base[1] if len(base) >= 2 else base[0]

    @cached_property
    def _feature_sizes(self) -> list[int]:
        if self.spec is not None:
            return [DEFAULT_CHANNELS]
        sizes = []
        for _, t in self.parameters(self.factory()):
            big = [n for n in t.shape if n > 1]
            if len(big) == 1 and big[0] not in sizes:
                sizes.append(big[0])
        return sizes

    @cached_property
    def layout(self) -> Layout:
        """The subject's layout and kind (:mod:`verify.layout`), stated or inferred once.
        Raises :class:`ShapeError` when no input layout is accepted."""
        stated = self.layout_hint or getattr(self.function_cls or self.factory(), "verify_layout", None)

        def call(x: Tensor) -> Any:
            with torch.no_grad():
                return self._raw(torch.float64, "cpu", None, False)(x)

        found = infer_layout(call, self._feature_sizes, parse_layout(stated) if stated else None)
        if self.spec is None:
            found = replace(found, domain=infer_domain(call, found))
        return found

    @property
    def accepted_ranks(self) -> tuple[int, ...]:
        """The input ranks on which the subject gives the output its layout expects: all
        of them for an elementwise function or a PReLU-like weight; only 4 for
        parameters of shape (1, C, 1, 1); only 3 for a (C,) parameter unsqueezed to (1, C, 1)."""
        return self.layout.ranks

    def broadcast_shapes(self, shape: tuple[int, ...]) -> list[tuple[int, ...]]:
        """What an input of ``shape`` becomes when broadcast against each parameter or
        buffer of the subject (a 0-d input against ACON-C's (1, C, 1, 1) p1 gives
        (1, C, 1, 1)): an output of one of these shapes is the parameter's doing."""
        fn = self.factory()
        shapes = [tuple(t.shape) for t in ([*fn.parameters(), *fn.buffers()] if isinstance(fn, nn.Module) else [])]
        # A per-channel tensor may be reshaped to (1, C, 1, ...) for the ranks it takes
        # (Snake's alpha of shape (C,) unsqueezed to (1, C, 1)).
        c = self.channels
        if any([n for n in t if n > 1] == [c] for t in shapes):
            shapes += [(1, c, *(1,) * (rank - 2)) for rank in self.accepted_ranks]
        out = []
        for t in shapes:
            try:
                out.append(tuple(torch.broadcast_shapes(shape, t)))
            except RuntimeError:
                continue
        return out

    @property
    def base_shape(self) -> tuple[int, ...]:
        """A small input shape the activation accepts, in the checks' layout (features at
        dimension 1). Raises :class:`ShapeError` when none of the usual layouts works."""
        return self.layout.base_shape

    @cached_property
    def output_shape(self) -> tuple[int, ...]:
        """The output's shape for an input of :attr:`base_shape`: the same for an
        activation with one output per input position; another for one that changes
        the shape (gated halves, maxout, a concatenation along the features)."""
        with torch.no_grad():
            y = self._build(torch.float64, "cpu", None, False)(_probe_values(self.base_shape))
        return tuple(y.shape)

    @property
    def not_positionwise(self) -> str | None:
        """Why the subject has no one output per input position (None: it has): the
        reason a check that compares an output with its input position skips."""
        layout = self.layout
        if layout.kind == "elementwise" and self.output_shape == tuple(self.base_shape):
            return None
        why = {
            "gated": "each output depends on two inputs (a_i and b_i, the halves of the features)",
            "vector": "each output depends on its whole vector along the features",
            "mixing": "outputs depend on inputs beyond their own vector",
        }.get(layout.kind, f"the output has another shape than the input ({self.output_shape} for "
                           f"{tuple(self.base_shape)})")
        return f"{layout.kind} activation: {why}; there is no one output per input position to judge"

    def shape(self, batch: int = 2, length: int = 3) -> tuple[int, ...]:
        """An input shape with ``batch`` samples and ``length`` positions per channel."""
        base = self.base_shape
        if len(base) >= 3:
            return (batch, base[1], length, *base[3:])
        if len(base) == 2:
            return (batch * length, base[1])
        return base

    # -- facts -------------------------------------------------------------------
    def domain(self, params: dict[str, float] | None = None) -> tuple[float, float]:
        if self.spec is not None:
            return self.spec.domain_at(params)
        return self.layout.domain

    def param_settings(self, profile: str = "ci") -> list[dict[str, float] | None]:
        """Parameter points to test: the spec's defaults and edge values; without a
        spec, the subject as built (None) and then values of its trainable parameters
        around and away from their defaults (see :func:`explored_values`), one
        parameter at a time, as many as the profile's ``EXPLORED_SETTINGS``; each with
        the values ``--param`` fixed."""
        settings: list[dict[str, float] | None]
        if self.spec is not None:
            settings = list(self.spec.param_settings()) if self.spec.params else [None]
        else:
            settings = [None, *self.explored_settings()[: EXPLORED_SETTINGS.get(profile, 0)]]
        if not self.overrides:
            return settings
        # Values fixed with --param hold in every setting (and name it); settings that
        # differed only in them become one.
        fixed: list[dict[str, float] | None] = []
        for p in settings:
            merged = {**(p or {}), **self.overrides}
            if merged not in fixed:
                fixed.append(merged)
        return fixed

    @cached_property
    def _explored(self) -> list[dict[str, float]]:
        try:
            fn = self.factory()
        except Exception:
            return []
        per = []
        for name, p in self.parameters(fn):
            if name in self.overrides or p.numel() == 0:
                continue
            default = float(p.detach().double().mean())
            per.append([{name: v} for v in explored_values(default) if self._defined_at({name: v})])
        return [lst[k] for k in range(max(map(len, per), default=0)) for lst in per if k < len(lst)]

    def explored_settings(self) -> list[dict[str, float]]:
        """One trainable parameter at a time set to each of its explored values (the
        first value of every parameter, then the second, ...); parameters a user fixed
        with ``--param`` are left alone, and so are values at which the forward is not
        finite on plain inputs in [-2, 2] (outside the parameter's domain: sqrt(beta)
        at beta < 0 is no gradient bug)."""
        return list(self._explored)

    def _defined_at(self, params: dict[str, float]) -> bool:
        try:
            with torch.no_grad():
                y = self._build(torch.float64, "cpu", params, False)(_probe_values(self.base_shape))
        except Exception:  # the subject refuses the value: not a point to judge it at
            return False
        return isinstance(y, Tensor) and bool(torch.isfinite(y).all())

    @cached_property
    def custom_functions(self) -> list[type[torch.autograd.Function]]:
        """The autograd.Function classes a forward runs through (found from the
        autograd graph of one call)."""
        try:
            fn = self.instance(torch.float64)
            x = torch.zeros(self.base_shape, dtype=torch.float64).uniform_(-2, 2).requires_grad_()
            y = fn(x)
        except Exception:
            return []
        found: list[type[torch.autograd.Function]] = []
        seen = set()
        stack = [y.grad_fn] if isinstance(y, Tensor) and y.grad_fn is not None else []
        while stack:
            node = stack.pop()
            if node is None or id(node) in seen:
                continue
            seen.add(id(node))
            cls = getattr(node, "_forward_cls", None)
            if cls is not None and cls not in found:
                found.append(cls)
            stack.extend(n for n, _ in node.next_functions if n is not None)
        return found

    @property
    def once_differentiable(self) -> bool:
        if self.spec is not None and self.spec.once_differentiable:
            return True
        return any(_is_once_differentiable(cls) for cls in self.custom_functions)

    @property
    def has_custom_jvp(self) -> bool | None:
        """Whether every Function in the forward defines jvp (None: no Function)."""
        if not self.custom_functions:
            return None
        return all(_overrides(cls, "jvp") for cls in self.custom_functions)

    @cached_property
    def doc(self) -> str:
        """The first paragraph of the activation's own docstring (its module class,
        Function or function), for a subject without a spec to be described by."""
        made = self.function_cls or self.factory()
        owner = made if inspect.isclass(made) or inspect.isroutine(made) else type(made)
        text = inspect.cleandoc(vars(owner).get("__doc__") or "") if inspect.isclass(owner) else inspect.getdoc(owner)
        return (text or "").split("\n\n")[0].replace("\n", " ")[:DOC_CHARS]

    def info(self) -> dict[str, Any]:
        d: dict[str, Any] = {"origin": self.origin, "kind": self.kind, "inplace": self.has_inplace}
        if self.always_inplace:
            d["always_inplace"] = True
        if self.inplace_declined is not None:
            d["inplace_declined"] = self.inplace_declined
        if self.spec is not None:
            d["spec"] = self.spec.to_json()
        elif self.doc:
            d["doc"] = self.doc
        try:
            d["input_shape"] = list(self.layout.shape)
            d["layout"] = self.layout.to_json()
        except ShapeError:
            return d
        if self.notes:
            d["notes"] = list(self.notes)
        return d


# Explored parameter settings (beyond the defaults) per profile, for a subject without
# a spec: each costs every parameter-aware check one more pass (gradcheck, its second
# order and forward mode, param_grads, stability, kinks).
EXPLORED_SETTINGS = {"quick": 2, "ci": 4, "thorough": 16}


def explored_values(default: float) -> list[float]:
    """Values of a parameter worth trying, most telling first: twice the default, a
    fraction below 1 (an exponent < 1 makes |x|^p's slope infinite at 0), the other
    sign, ten times, near zero, then more. A default of 0 is taken as 1."""
    base = default if abs(default) > 1e-6 else 1.0
    candidates = [2 * base, 0.5 if abs(base - 0.5) > 1e-9 else 0.25, -base, 10 * base, 1e-2 * base, 0.5 * base,
                  -2 * base, 0.1 * base, 100 * base, -10 * base]
    out: list[float] = []
    for v in candidates:
        v = float(f"{v:.6g}")
        if v != default and v not in out:
            out.append(v)
    return out


def set_values(fn: Any, values: dict[str, float], name: str = "the subject") -> None:
    """Fill each named parameter or buffer of a module (``beta``, ``act.alpha``) with a
    value, broadcast to its shape. A name that is neither is the user's mistake."""
    from verify.errors import TargetError

    if not isinstance(fn, nn.Module):
        raise TargetError(f"--param sets a parameter or buffer of a module; {name} is not a module")
    tensors: dict[str, Tensor] = {**dict(fn.named_parameters()), **dict(fn.named_buffers())}
    with torch.no_grad():
        for key, value in values.items():
            t = tensors.get(key)
            if t is None:
                known = ", ".join(sorted(tensors)) or "none"
                raise TargetError(f"{name} has no parameter or buffer {key!r} (it has: {known})")
            t.fill_(value)


# The subject accepts none of the input layouts the checks know.
ShapeError = LayoutError


def value_rows(t: Tensor, values_dim: int, n: int) -> Tensor:
    """An output as (rows, n): dimension ``values_dim`` of the input held the n values,
    every other dimension (channels; what a shape-changing activation concatenated)
    becomes a row. Raises :class:`ShapeError` when the output no longer has the n
    values along that dimension (a concatenation along it)."""
    if t.dim() <= values_dim or t.shape[values_dim] != n:
        raise ShapeError(f"an output of shape {tuple(t.shape)} does not keep the {n} input values along "
                         f"dimension {values_dim}")
    return t.movedim(values_dim, -1).reshape(-1, n)


def _probe_values(shape: tuple[int, ...]) -> Tensor:
    """Evenly spaced float64 values in [-2, 2] of ``shape``: a first call on a subject."""
    return torch.linspace(-2, 2, int(torch.Size(shape).numel()), dtype=torch.float64).reshape(shape)


def on_a_copy(fn: Fn) -> Fn:
    """``fn`` called on a fresh copy of its input: the out-of-place form of a subject
    that always writes into its input. Autograd tracks the copy back to the caller's
    tensor, so gradients (first and second order, forward mode) reach a leaf; a module
    stays the same module (its parameters keep their names), with a pre-hook."""
    if isinstance(fn, nn.Module):
        fn.register_forward_pre_hook(lambda _module, args: (args[0].clone(), *args[1:]))
        return fn

    def copying(x: Tensor) -> Tensor:
        return fn(x.clone())

    return copying


def _overrides(cls: type, name: str) -> bool:
    return getattr(cls, name) is not getattr(torch.autograd.Function, name)


def _is_once_differentiable(cls: type) -> bool:
    # torch.autograd.function.once_differentiable wraps backward in a closure named
    # "wrapper" whose code lives in torch/autograd/function.py.
    code = getattr(getattr(cls, "backward", None), "__code__", None)
    return code is not None and code.co_filename.endswith(("autograd/function.py", "autograd\\function.py")) and code.co_name == "wrapper"


def from_spec(spec: Activation, target: str | None = None) -> Subject:
    inplace = None
    if spec.inplace is not None:

        def inplace() -> Fn:
            return spec.build(inplace=True, channels=DEFAULT_CHANNELS if spec.per_channel else None)

    return Subject(
        name=spec.name,
        target=target or spec.name,
        factory=lambda: spec.build(channels=DEFAULT_CHANNELS if spec.per_channel else None),
        spec=spec,
        inplace_factory=inplace,
        origin="spec",
        layout_hint=spec.layout,
    )


def _with_inplace(module: nn.Module, flag: bool) -> nn.Module:
    m = copy.deepcopy(module)
    setattr(m, "inplace", flag)  # noqa: B010 (nn.Module types attributes as Tensor | Module)
    return m


def _takes_inplace(cls: type) -> bool:
    """Whether a user can ask this module class for its in-place form: its constructor
    takes ``inplace`` (or passes keywords on). An ``inplace`` attribute alone (a zoo's
    base class sets one for every subclass) offers nothing."""
    try:
        takes = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return True
    return "inplace" in takes or any(p.kind is p.VAR_KEYWORD for p in takes.values())


def from_module(module: nn.Module, name: str, target: str) -> Subject:
    """A module instance. One built with ``inplace=True`` is checked as the function it
    computes (a copy with ``inplace=False``: gradient checks feed it leaves), and its
    in-place form by the ``inplace`` and ``memory`` checks."""
    if not (hasattr(module, "inplace") and isinstance(module.inplace, bool) and _takes_inplace(type(module))):
        return Subject(name=name, target=target, factory=lambda: copy.deepcopy(module), origin="module")
    subject = Subject(
        name=name,
        target=target,
        factory=lambda: _with_inplace(module, False),
        inplace_factory=lambda: _with_inplace(module, True),
        origin="module",
    )
    if module.inplace:
        subject.notes.append("built with inplace=True: its function is checked out of place, its in-place form "
                             "by the inplace and memory checks")
    return subject


def from_module_class(cls: type[nn.Module], init: dict[str, Any], name: str, target: str) -> Subject:
    """A module class, built once: every instance is a copy of that one, so a
    constructor that draws its parameters at random (ACON-C's ``torch.randn``) gives
    every check, and both sides of a comparison, the same function. The in-place form
    is built with ``inplace=True`` where the constructor takes it, with the same state."""
    built = cls(**init)
    subject = from_module(built, name, target)
    if subject.inplace_factory is not None and "inplace" in inspect.signature(cls).parameters:
        plain = built if not getattr(built, "inplace", False) else cls(**{**init, "inplace": False})
        state = plain.state_dict()

        def in_place() -> nn.Module:
            module = cls(**{**init, "inplace": True})
            if module.state_dict().keys() == state.keys():
                module.load_state_dict(state)
            return module

        subject.factory = lambda: copy.deepcopy(plain)
        subject.inplace_factory = in_place
    return subject


def from_function(cls: type[torch.autograd.Function], name: str, target: str) -> Subject:
    def apply(x: Tensor) -> Tensor:
        return cls.apply(x)

    return Subject(name=name, target=target, factory=lambda: apply, function_cls=cls, origin="function")


def from_callable(fn: Fn, name: str, target: str) -> Subject:
    return Subject(name=name, target=target, factory=lambda: fn, origin="callable")
