"""The declarative record that describes one activation.

An :class:`Activation` is data, in the spirit of PyTorch's OpInfo: the checks in
``verify`` read what a spec declares and never special-case an activation by name.

Conventions every spec follows:

* ``functional(x, **params)`` and ``reference(x, **params)`` take the input and the
  parameter values by name. A parameter value is a float or a tensor; a per-channel
  parameter is a 1-d tensor of length C that broadcasts over dimension 1 of ``x``
  (the layout of ``nn.PReLU``), see :func:`acts._util.per_channel`.
* ``module(**params, channels=C, inplace=False)`` builds an ``nn.Module``; every
  keyword is optional and defaults to the spec's defaults. ``channels`` is accepted
  only when a parameter is per-channel, ``inplace`` only when the spec has an
  in-place variant.
* ``builtin(x, **params)`` is the equivalent torch built-in, called with the same
  parameter names (wrap it when torch names them otherwise).
* ``reference`` is the oracle, the ground truth for the value and every gradient: the
  function computed another way than ``functional`` (a built-in, or a closed form free
  of the implementation's cancellation), differentiable in x and every parameter.
  ``oracle`` says which way.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

ParamValues = Mapping[str, float]


class Kind(str, enum.Enum):
    """How an activation is implemented, the three kinds users write."""

    FORMULA = "formula"  # plain torch ops, backward derived by autograd
    PARAMETRIC = "parametric"  # trainable parameters, backward derived by autograd
    CUSTOM_BACKWARD = "custom_backward"  # torch.autograd.Function with its own backward


class Smoothness(str, enum.Enum):
    """Global differentiability class of the function on the real line."""

    C0 = "C0"  # continuous, first derivative jumps somewhere (ReLU)
    C1 = "C1"  # first derivative continuous, second jumps (ELU with alpha = 1)
    C2 = "C2"
    SMOOTH = "smooth"  # infinitely differentiable


@dataclass(frozen=True)
class Param:
    """One parameter of an activation.

    ``edge_values`` are values worth testing beyond the default: where two branches
    meet (soft exponential's alpha = 0), where the sign flips, where the function
    degenerates.
    """

    name: str
    default: float
    trainable: bool = True
    per_channel: bool = False
    edge_values: tuple[float, ...] = ()
    doc: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "default": self.default,
            "trainable": self.trainable,
            "per_channel": self.per_channel,
            "edge_values": list(self.edge_values),
            "doc": self.doc,
        }


@dataclass(frozen=True)
class Kink:
    """A point where the derivative (or, with ``jump``, the value) is discontinuous.

    ``at`` is either a number or a function of the scalar parameter values, for
    kinks whose place moves with a parameter (SReLU's thresholds).
    """

    at: float | Callable[[ParamValues], float]
    jump: bool = False
    doc: str = ""

    def locate(self, params: ParamValues) -> float:
        return float(self.at(params) if callable(self.at) else self.at)


@dataclass(frozen=True)
class Properties:
    """Mathematical facts a spec declares and the checks hold it to.

    ``limits`` are the values at -inf and +inf, in that order (``math.inf`` allowed),
    at the default parameters. ``bounds`` is the closed range of the output, ``None``
    on a side that is unbounded. ``stable_range`` is the largest |x| up to which the
    implementation promises finite outputs and gradients in every floating dtype
    (where the true value is finite). A ``channelwise`` activation declares limits,
    bounds and value at zero for channel 0.
    """

    limits: tuple[float, float]
    value_at_zero: float = 0.0
    bounds: tuple[float | None, float | None] = (None, None)
    monotonic: bool = False
    smoothness: Smoothness = Smoothness.SMOOTH
    parity: str | None = None  # "odd", "even" or None
    stable_range: float = 1e4
    # None: not declared; False: no vanishing region (|f'| < 1e-3) within the stable range
    # in float32; True: one there.
    saturates: bool | None = None
    # The recommended init gain (torch.nn.init.calculate_gain's sense), None: not declared.
    gain: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "limits": [_json_float(v) for v in self.limits],
            "value_at_zero": self.value_at_zero,
            "bounds": [None if b is None else _json_float(b) for b in self.bounds],
            "monotonic": self.monotonic,
            "smoothness": self.smoothness.value,
            "parity": self.parity,
            "stable_range": self.stable_range,
            "saturates": self.saturates,
            "gain": self.gain,
        }


@dataclass(frozen=True)
class ThroughputBudget:
    """A speed promise the `throughput` check holds: forward+backward time at
    ``numel`` float32 elements on CPU at most ``max_ratio`` times the built-in's."""

    max_ratio: float = 1.25
    numel: int = 1 << 22


@dataclass(frozen=True)
class Activation:
    """The declarative spec of one activation. See the module docstring."""

    name: str
    kind: Kind
    formula: str
    source: str
    module: Callable[..., nn.Module]
    functional: Callable[..., torch.Tensor]
    reference: Callable[..., torch.Tensor]
    properties: Properties
    # How ``reference`` is computed, in a phrase: the other way that makes it an oracle.
    oracle: str = ""
    params: tuple[Param, ...] = ()
    kinks: tuple[Kink, ...] = ()
    inplace: Callable[..., torch.Tensor] | None = None
    # True when the in-place variant's backward needs only the output, so that it
    # saves a whole input-sized tensor in training; False for an inference-only one.
    inplace_saves_training_memory: bool = False
    builtin: Callable[..., torch.Tensor] | None = None
    builtin_name: str | None = None
    # Input-sized tensors a custom backward saves (None: autograd decides).
    saved_tensors: int | None = None
    once_differentiable: bool = False
    elementwise: bool = True
    # The input layout, as ``verify.layout.parse`` reads it ("gated:-1", "vector:-1"); None:
    # one output per input position. A gated spec's ``kinks`` and ``properties`` are those
    # of its first half's function with the second held at 1, f(a, b = 1) (ReGLU's kink
    # at a = 0); a vector spec's properties are those of entry 0 of a vector of 4 whose
    # other entries are 0, and it declares no kinks (they lie where entries meet, not at
    # points of the line). Either declares ``elementwise=False``.
    layout: str | None = None
    # True when the function applied differs between channels (dimension 1) without a
    # per-channel parameter, like bipolar ReLU alternating over channels: checks then
    # permute and slice only the batch dimension.
    channelwise: bool = False
    # Inputs outside ``domain`` are outside the function's definition (soft
    # exponential with alpha < 0 needs x > 1/alpha - alpha); may depend on parameters.
    domain: tuple[float, float] | Callable[[ParamValues], tuple[float, float]] = (-math.inf, math.inf)
    throughput: ThroughputBudget | None = None
    aliases: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").isalnum():
            raise ValueError(f"activation name {self.name!r} must be a snake_case identifier")
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: duplicate parameter names {names}")
        if self.kind is Kind.PARAMETRIC and not any(p.trainable for p in self.params):
            raise ValueError(f"{self.name}: a parametric activation needs a trainable parameter")
        if self.inplace is None and self.inplace_saves_training_memory:
            raise ValueError(f"{self.name}: declares in-place savings without an in-place variant")
        if self.layout is not None and self.layout.split(":")[0] != "elementwise" and self.elementwise:
            raise ValueError(f"{self.name}: a {self.layout} layout is not elementwise; declare elementwise=False")

    @property
    def per_channel(self) -> bool:
        return any(p.per_channel for p in self.params)

    @property
    def trainable(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if p.trainable)

    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.params}

    def param_settings(self) -> list[dict[str, float]]:
        """The defaults, then each edge value of each parameter with the others at
        their defaults: the parameter points every gradient check visits."""
        settings = [self.defaults()]
        for p in self.params:
            for v in p.edge_values:
                s = self.defaults()
                s[p.name] = v
                if s not in settings:
                    settings.append(s)
        return settings

    def domain_at(self, params: ParamValues | None = None) -> tuple[float, float]:
        values = self.defaults() if params is None else {**self.defaults(), **params}
        lo, hi = self.domain(values) if callable(self.domain) else self.domain
        return float(lo), float(hi)

    def kink_points(self, params: ParamValues | None = None) -> list[float]:
        values = self.defaults() if params is None else {**self.defaults(), **params}
        return sorted(k.locate(values) for k in self.kinks)

    def build(self, channels: int | None = None, inplace: bool = False, **params: float) -> nn.Module:
        kwargs: dict[str, Any] = {**self.defaults(), **params}
        if self.per_channel and channels is not None:
            kwargs["channels"] = channels
        if inplace:
            if self.inplace is None:
                raise ValueError(f"{self.name} has no in-place variant")
            kwargs["inplace"] = True
        return self.module(**kwargs)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind.value,
            "formula": self.formula,
            "source": self.source,
            "params": [p.to_json() for p in self.params],
            "kinks": self.kink_points(),
            "jumps": [k.locate(self.defaults()) for k in self.kinks if k.jump],
            "properties": self.properties.to_json(),
            "inplace": self.inplace is not None,
            "inplace_saves_training_memory": self.inplace_saves_training_memory,
            "builtin": self.builtin_name,
            "oracle": self.oracle,
            "saved_tensors": self.saved_tensors,
            "once_differentiable": self.once_differentiable,
            "elementwise": self.elementwise,
            "layout": self.layout,
            "channelwise": self.channelwise or self.per_channel,
            "domain": [_json_float(v) for v in self.domain_at()],
            "throughput_budget": None
            if self.throughput is None
            else {"max_ratio": self.throughput.max_ratio, "numel": self.throughput.numel},
            "aliases": list(self.aliases),
        }


def _json_float(v: float) -> float | str:
    """JSON has no infinities; spell them the way JavaScript and numpy read them."""
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if math.isnan(v):
        return "nan"
    return v
