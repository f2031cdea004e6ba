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

# `special_values`: a limit or a value at zero is met when the output is within
# SPECIAL_VALUE_ULPS * eps * max(1, |expected|) of it (an infinite one only exactly).
# The value at an infinity or at zero comes out of a few roundings of the formula
# (SELU's limit is scale * alpha * (exp(-inf) - 1): two products), as in `reference`.
SPECIAL_VALUE_ULPS = 4.0

# `stability` scans |x| on a log-spaced grid of STABILITY_POINTS_PER_DECADE points a
# decade, from STABILITY_MIN_ABS to the dtype's largest value (about 5,000 points a
# sign in float64, 1,300 in float32). 16 a decade puts grid points 15% apart, and a
# break found on the grid is then located on STABILITY_REFINE_POINTS log-spaced points
# between it and the grid point before (0.2% apart).
STABILITY_POINTS_PER_DECADE = 16
STABILITY_MIN_ABS = 1e-3
STABILITY_REFINE_POINTS = 64

# An infinite output in float32 / bfloat16 / float16 is the correctly rounded answer
# when the float64 truth is at least the dtype's max less OVERFLOW_ULPS roundings: a
# result within a few roundings of the max may land on either side of it.
OVERFLOW_ULPS = 4.0

# In float64 (no wider dtype to hold the truth) an infinite output is taken for an
# overflow of the true value when the log-log extrapolation of |f| from the two
# finite points just before it (0.2% apart) reaches float64's max / OVERFLOW_SLACK.
# The extrapolation underestimates a convex log|f| (exp-like growth) by about the
# step's relative size, far below a factor 2; an intermediate overflow (x * x in a
# function that grows like x) leaves |f| many decades short of the max.
OVERFLOW_SLACK = 2.0

# `preserves` and `elementwise` compare the results of one input across layouts
# (contiguous, transposed, channels-last, a slice of the batch, a single element).
# TensorIterator runs contiguous inner loops through vectorised kernels (SLEEF) and
# strided elements and loop tails through scalar ones (libm); they differ by about an
# ulp per transcendental op, more after the cancellations in a derivative formula. On
# torch 2.13 CPU the worst over torch's own activations was 9.5 ulps (float32 GELU
# forward) and 21.5 ulps (float64 tanh-GELU gradient), counted in ulps of
# max(|value|, LAYOUT_SCALE). bfloat16 and float16 compute in float32 and round once,
# so they differ by an ulp at most. The bounds are about three times the worst seen; a
# layout bug (a view over the wrong strides, a dropped dimension) is off by O(1).
LAYOUT_ULPS = {torch.float64: 64.0, torch.float32: 64.0, torch.bfloat16: 4.0, torch.float16: 4.0}
LAYOUT_SCALE = 1.0

# `preserves`: a float64 (float32) input gradient whose nonzero entries are all exactly
# representable in float32 (bfloat16 or float16) was computed in that narrower dtype
# and cast back (autograd silently casts a Function's gradient to the input's dtype).
# The incoming gradient has a full mantissa, so a correct gradient entry is exactly
# representable only by a chance of 2**-16 (float32 into bfloat16) or less; this many
# entries make a false alarm a 2**-64 event.
PRECISION_EVIDENCE = 4

# `inplace`: the in-place result may differ from the out-of-place one by one rounding
# (a hand-written in-place form that re-associates, x.mul_(sigmoid(x)) against a fused
# kernel); torch's own in-place activations are bitwise equal. A read of an element
# already overwritten is off by O(1).
INPLACE_ULPS = 1.0
# Its input gradient is computed from the output, since the input is gone (ELU:
# y + alpha instead of alpha * exp(x)), which cancels near saturation: errors are a few
# ulps of the incoming gradient. Counted in ulps of max(|grad|, |incoming grad|); the
# worst over torch's in-place activations on 2.13 CPU was INPLACE_GRAD_WORST_SEEN.
INPLACE_GRAD_ULPS = 8.0

# `determinism`: runs compared bit for bit, and the size of the extra large input
# (enough for CPU loops to split over threads, grain 32768, and for CUDA kernels to
# use many blocks whose atomic adds can land in any order).
DETERMINISM_REPEATS = 3
DETERMINISM_LARGE_NUMEL = 1 << 16

# `compile`: compiled against eager in float32, torch.testing.assert_close's float32
# defaults, which torch's inductor test suite also uses: a fused kernel reorders
# roundings and may use other vectorised math.
COMPILE_RTOL = 1.3e-6
COMPILE_ATOL = 1e-5
