"""Adaptive piecewise linear unit with two trainable hinges.

    f(x) = max(0, x) + a1 * max(0, b1 - x) + a2 * max(0, b2 - x)

Agostinelli, Hoffman, Sadowski & Baldi, "Learning Activation Functions to Improve
Deep Neural Networks", ICLR 2015 workshop, arXiv:1412.6830: the sum over s = 1..S of
a_s max(0, -x + b_s) with S = 2 hinges. The paper learns a_s and b_s per hidden unit;
here they are four trainable scalars shared by every element.

The defaults are not the paper's (the formula prescribes none): a1 = 1/4,
b1 = 1/2, a2 = -1/8, b2 = -1 (exact in every floating dtype) put three separate kinks at b2 < 0 < b1, one hinge of
each sign, and a1 + a2 > 0, so that the limit at -inf is +inf:

    slope -1/8 (x < -1), -1/4 (-1 < x < 0), 3/4 (0 < x < 1/2), 1 (x > 1/2)

and the minimum is f(0) = a1 b1 = 1/8. The gradients are d/da_s = max(0, b_s - x)
and d/db_s = a_s [x < b_s]; at a hinge the derivative of max is taken as 0, as
``torch.relu``'s is.

At x = -inf the hinges are a_s * inf, NaN for a zero a_s and inf - inf for hinges of
opposite signs. The limit there is the sign of a1 + a2 times inf, or a1 b1 + a2 b2
when a1 + a2 = 0; the functional returns it and evaluates the hinges only at finite
inputs. Below both hinges it sums the net slope a1 + a2 once rather than two terms
that cancel (see ``apl``); the reference is the plain sum.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from acts._util import ActivationModule
from acts.registry import register
from acts.spec import Activation, Kind, Kink, Param, Properties, Smoothness


def _params(x: Tensor, *params: Tensor | float) -> tuple[Tensor, ...]:
    return tuple(torch.as_tensor(p, dtype=x.dtype, device=x.device) for p in params)


def _with_limits(x: Tensor, y: Tensor, a1: Tensor, b1: Tensor, a2: Tensor, b2: Tensor) -> Tensor:
    """``y`` at finite x, the limits at x = +-inf."""
    slope = a1 + a2
    inf = x.new_tensor(math.inf)
    limit = torch.where(slope > 0, inf, torch.where(slope < 0, -inf, a1 * b1 + a2 * b2))
    # +inf needs no care: both hinges are 0 there and max(0, x) is x.
    return torch.where(x == -math.inf, limit, torch.where(x == math.inf, x, y))


def apl(
    x: Tensor,
    a1: Tensor | float,
    b1: Tensor | float,
    a2: Tensor | float,
    b2: Tensor | float,
) -> Tensor:
    a1, b1, a2, b2 = _params(x, a1, b1, a2, b2)
    xs = torch.where(torch.isinf(x), 0.0, x)
    # Below both hinges the plain sum adds a1 (b1 - x) and a2 (b2 - x), two terms that
    # grow with |x| and cancel when a1 = -a2 (all digits lost in float16 at |x| ~ 1e4).
    # With the hinges ordered lo <= hi the same function is
    #   a_hi (hi - lo if x < lo else max(0, hi - x)) + (a1 + a2) max(0, lo - x),
    # a bounded term plus one growing with the net slope. At x = lo and x = hi the
    # derivatives are the plain sum's (each max(0, .) has derivative 0 at 0).
    first_high = b1 >= b2
    hi, lo = torch.where(first_high, b1, b2), torch.where(first_high, b2, b1)
    a_hi = torch.where(first_high, a1, a2)
    upper = torch.where(xs < lo, hi - lo, torch.relu(hi - xs))
    hinges = a_hi * upper + (a1 + a2) * torch.relu(lo - xs)
    return _with_limits(x, torch.relu(xs) + hinges, a1, b1, a2, b2)


def reference(
    x: Tensor,
    a1: Tensor | float,
    b1: Tensor | float,
    a2: Tensor | float,
    b2: Tensor | float,
) -> Tensor:
    a1, b1, a2, b2 = _params(x, a1, b1, a2, b2)
    xs = torch.where(torch.isinf(x), 0.0, x)
    y = torch.relu(xs) + a1 * torch.relu(b1 - xs) + a2 * torch.relu(b2 - xs)
    return _with_limits(x, y, a1, b1, a2, b2)


class APL(ActivationModule):
    params = (
        Param(
            "a1",
            0.25,
            edge_values=(-0.25,),
            doc="height of the first hinge; a negative one makes f(-inf) = -inf",
        ),
        Param("b1", 0.5, edge_values=(-0.5,), doc="place of the first hinge"),
        Param(
            "a2",
            -0.125,
            edge_values=(-0.25,),
            doc="height of the second hinge; -1/4 cancels a1 and gives f(-inf) = a1 b1 + a2 b2",
        ),
        Param("b2", -1.0, edge_values=(0.25,), doc="place of the second hinge"),
    )
    fn = staticmethod(apl)


SPEC = register(Activation(
    name="apl", kind=Kind.PARAMETRIC, formula="max(0, x) + a1 max(0, b1 - x) + a2 max(0, b2 - x)",
    source="Agostinelli et al. 2015, ICLR workshop, arXiv:1412.6830", module=APL, functional=apl,
    reference=reference, oracle="the paper's plain sum of the hinges, not regrouped", params=APL.params,
    kinks=(
            Kink(0.0, doc="max(0, x)"),
            Kink(lambda p: p["b1"], doc="the first hinge (no kink where a1 = 0)"),
            Kink(lambda p: p["b2"], doc="the second hinge (no kink where a2 = 0)"),
    ),
    properties=Properties(limits=(math.inf, math.inf), value_at_zero=0.125, bounds=(0.125, None), smoothness=Smoothness.C0),
))
