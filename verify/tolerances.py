"""Every tolerance and threshold the checks use, per dtype, in one place."""

from __future__ import annotations

import torch

# The dtypes a user trains in, in the order the checks visit them.
LOW_PRECISION = (torch.float32, torch.bfloat16, torch.float16)
ALL_FLOAT = (torch.float64, *LOW_PRECISION)

# Machine epsilon (torch.finfo(dtype).eps): the spacing of floats just above 1.
EPS = {dt: torch.finfo(dt).eps for dt in ALL_FLOAT}

# gradcheck / gradgradcheck in float64: torch's own defaults (eps = 1e-6 central
# differences; atol 1e-5, rtol 1e-3), which its OpInfo suite uses for every operator.
GRADCHECK_EPS = 1e-6
GRADCHECK_ATOL = 1e-5
GRADCHECK_RTOL = 1e-3
# The gradient checks use gradcheck's fast mode (a random projection u^T J v against
# the same projection of finite differences): 40x faster here than the element-by-
# element Jacobian, and any O(1) error in one element moves the projection.

# How far sample points stay from a kink: central differences with step 1e-6 must not
# straddle it, with room for the kink's own location error (1e-9 after localisation).
KINK_MARGIN = 1e-3

# The `reference` check in a low-precision dtype compares the subject with the float64
# truth at the same (rounded) input. An element passes when its error is within
#   REFERENCE_ULPS * eps * (|truth| + scale)       (a few roundings of the result), or
#   REFERENCE_SLACK * the error of the plain reference formula run in that dtype
# (a subject may be as inexact as the obvious code, and a little more).
# `scale` is the typical magnitude of the terms, 1 for activations, so that near a
# zero of f or f' the bound does not shrink below what cancellation costs.
# float64 is held to 64 ulps: two correct float64 formulas of one function (a fused
# built-in and a chain of ops) differ by a few ulps per op, never by 1e-14.
REFERENCE_ULPS = {torch.float64: 64.0, torch.float32: 8.0, torch.bfloat16: 4.0, torch.float16: 4.0}
REFERENCE_SLACK = 4.0

# In float64 the subject is also compared with the torch built-in, to catch a reference
# written wrong together with the functional. The built-in is held only to float32's
# tolerance: torch 2.13's hardsigmoid backward multiplies by a float32 1/6 even in
# float64 (relative error 4.5e-8, measured), so it is no float64 ground truth.
BUILTIN_TOLERANCE_DTYPE = torch.float32

# Values beyond which the reference check draws no inputs in a dtype: the largest
# magnitude whose square and exponential-of-log tricks stay finite in float16.
REFERENCE_RANGE = {torch.float32: 1e4, torch.bfloat16: 1e4, torch.float16: 1e2}

# `stability`: the required range of |x| with finite outputs and gradients.
STABLE_RANGE = 1e4

# `elementwise`: the size of the nudge given to one element.
ELEMENTWISE_NUDGE = 0.5
