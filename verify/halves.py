"""A gated subject seen one half at a time: f(a, b) as an elementwise function of a with
b held at a value, or of b with a held. The checks that judge a function of one
variable on the float64 line (kinks, saturation, the gradient far from 0, stability)
judge a gated subject through these views: ReGLU's kink at a = 0 is a kink of its
first half's view."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor

from verify.layout import Layout
from verify.subject import Fn, Subject

HALVES = ("a", "b")


@dataclass
class HalfView(Subject):
    parent: Subject | None = None
    half: int = 0  # 0: a varies, 1: b varies
    held: float = 1.0  # the other half's value

    def _raw(self, dtype: torch.dtype, device: str | torch.device, params: dict[str, float] | None,
             inplace: bool) -> Fn:
        assert self.parent is not None
        fn = self.parent.instance(dtype, device, params)
        half, held = self.half, self.held

        def view(x: Tensor) -> Any:
            other = torch.full_like(x, held)
            return fn(torch.cat([x, other] if half == 0 else [other, x], dim=1 if x.dim() >= 2 else 0))

        return view

    def param_settings(self, profile: str = "ci") -> list[dict[str, float] | None]:
        assert self.parent is not None
        return self.parent.param_settings(profile)

    @property
    def variable(self) -> str:
        """The half that varies: "a" or "b"."""
        return HALVES[self.half]

    @property
    def held_text(self) -> str:
        return f"with {HALVES[1 - self.half]} = {self.held:g}"

    @property
    def label(self) -> str:
        return f"{self.variable} ({self.held_text})"


def half_view(subject: Subject, half: int, held: float = 1.0) -> HalfView:
    """The elementwise function of one half of a gated subject, the other held at ``held``."""
    layout = subject.layout
    width = layout.out_width
    base = subject.base_shape
    shape = (base[0], width, *base[2:]) if len(base) >= 2 else (width,)
    view = HalfView(name=f"{subject.name}[{HALVES[half]}]", target=subject.target, factory=subject.factory,
                    origin=subject.origin, overrides=subject.overrides, parent=subject, half=half, held=held)
    view.__dict__["layout"] = replace(Layout(), kind="elementwise", dim=1, width=width, out_width=width,
                                      ranks=layout.ranks, shape=shape, stated=True)
    view.__dict__["custom_functions"] = subject.custom_functions
    return view


def views(subject: Subject, held: float = 1.0) -> list[HalfView]:
    """Both halves' views of a gated subject (none for another kind)."""
    if subject.layout.kind != "gated":
        return []
    key = ("half views", held)
    if key not in subject.memo:
        subject.memo[key] = [half_view(subject, 0, held), half_view(subject, 1, held)]
    return list(subject.memo[key])
