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
# A jump of f that central differences straddle (an undeclared jump of a spec's
# forward, which the kinks check judges) is avoided and the search run again, at most
# this many times.
GRADCHECK_MAX_JUMPS = 3

# The gradient checks use gradcheck's fast mode (a random projection u^T J v against
# the same projection of finite differences): 40x faster here than the element-by-
# element Jacobian, and any O(1) error in one element moves the projection.

# A subject that computes float64 inputs at a narrower dtype's resolution (an upcast to
# float32 and back: verify.analysis.precision) is judged at that resolution. A central
# difference with step h errs by h^2 |f'''| / 6 (truncation) plus k roundings of |f|
# over 2h; h = cbrt(eps) * GRADCHECK_STEP_SCALE balances the two, each then
# O(eps^(2/3)) (Nocedal & Wright, Numerical Optimization, 8.1). An activation on the
# drawn |x| <= 8 has |f| <= 8 and |f'''| = O(1), and a formula of a few ops rounds a few
# times: GRADCHECK_ROUNDING_FACTOR * eps^(2/3) bounds both. float32: h = 4.9e-3 and
# atol 3.9e-4, where a backward missing a term is off by O(0.1). float64 keeps torch's
# defaults.
GRADCHECK_STEP_SCALE = 1.0
GRADCHECK_ROUNDING_FACTOR = 16.0
GRADCHECK_EPS_AT = {torch.float64: GRADCHECK_EPS,
                    **{dt: EPS[dt] ** (1 / 3) * GRADCHECK_STEP_SCALE for dt in LOW_PRECISION}}
GRADCHECK_ATOL_AT = {torch.float64: GRADCHECK_ATOL,
                     **{dt: GRADCHECK_ROUNDING_FACTOR * EPS[dt] ** (2 / 3) for dt in LOW_PRECISION}}
GRADCHECK_RTOL_AT = {torch.float64: GRADCHECK_RTOL,
                     **{dt: max(GRADCHECK_RTOL, GRADCHECK_ROUNDING_FACTOR * EPS[dt] ** (2 / 3))
                        for dt in LOW_PRECISION}}

# verify.analysis.precision: the subject on PRECISION_PROBE_BATCH x PRECISION_PROBE_LENGTH
# positions per channel of full-mantissa float64 inputs (uniform on |x| <= 8 inside the
# domain, a fixed seed). It computes at a narrower dtype's resolution when every finite
# output is exactly that dtype's (a float64 result is by a chance of 2**-29 per output
# for float32, less for narrower ones), the outputs stay put when the inputs move by
# PRECISION_NUDGE_ULPS float64 ulps (a float32 rounding boundary lies that close by a
# chance of 2**-27), and at least PRECISION_MOVING_FRACTION of them move when the inputs
# move by PRECISION_MOVE_ULPS of that dtype's ulps (a constant, or a function flat on
# most of the range, is no evidence; ReLU moves on half of it).
PRECISION_PROBE_BATCH = 8
PRECISION_PROBE_LENGTH = 32
PRECISION_NUDGE_ULPS = 4.0
PRECISION_MOVE_ULPS = 4.0
PRECISION_MOVING_FRACTION = 0.25

# `gradcheck` far from 0: the backward against central differences at log-spaced |x|
# from GRADIENT_FAR_MIN_ABS (the drawn inputs cover |x| <= 8) out to the required range
# (`stability`'s), GRADIENT_FAR_POINTS_PER_DECADE a decade, both signs, with step
# GRADIENT_FAR_STEP * |x| and half that. A point fails when autograd is further from the
# Richardson extrapolation of the two differences than gradcheck's atol + rtol, plus
# GRADIENT_FAR_ERROR_FACTOR times the two differences' disagreement (their own error:
# large where a step straddles a kink or the curvature is large at that step), plus the
# rounding of f at that step.
GRADIENT_FAR_MIN_ABS = 1.0
GRADIENT_FAR_POINTS_PER_DECADE = 8
GRADIENT_FAR_STEP = 1e-6
GRADIENT_FAR_ERROR_FACTOR = 4.0
# At a narrower resolution (see GRADCHECK_EPS_AT) the step grows as gradcheck's does.
GRADIENT_FAR_STEP_AT = {dt: GRADIENT_FAR_STEP * eps / GRADCHECK_EPS for dt, eps in GRADCHECK_EPS_AT.items()}

# How far sample points stay from a kink: central differences with step 1e-6 must not
# straddle it, with room for the kink's own location error (1e-9 after localisation).
KINK_MARGIN = 1e-3
# At a narrower resolution the step is wider (GRADCHECK_EPS_AT): twice the step.
KINK_MARGIN_AT = {dt: max(KINK_MARGIN, 2 * eps) for dt, eps in GRADCHECK_EPS_AT.items()}

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
# Without a spec there is no plain formula whose own error sets the slack: a
# low-precision dtype is compared with the subject itself in float64 and allowed
# REFERENCE_SLACK times the roundings of the result, REFERENCE_ULPS * REFERENCE_SLACK
# ulps of (|truth| + scale): what a chain of a few ops, each rounding in the dtype,
# costs where an intermediate is a few times larger than the result (16 bfloat16 ulps
# are 12.5%, 16 float16 ulps 1.6%). A path taken in one dtype only (a wrong constant, a
# missing factor) is off by O(1). A value that is not finite is `stability`'s business.
REFERENCE_SELF_ULPS = {dt: n * REFERENCE_SLACK for dt, n in REFERENCE_ULPS.items()}
# ... plus the backward error every eager formula is entitled to: the float64 truth at x
# moved by this many epsilons of the dtype (an intermediate such as w0 x or beta x is
# rounded before a steep function sees it: sin(30 x) in float32 is sin at 30 x rounded).
REFERENCE_INPUT_ROUNDINGS = 2.0

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

# `stability` also scans every finite value of these 16-bit dtypes (2^16 bit patterns:
# one vectorised forward and backward, a few milliseconds a channel) and reports the
# first EXHAUSTIVE_FIRST breaks (smallest |x|) with the count.
EXHAUSTIVE_DTYPES = (torch.float16, torch.bfloat16)
EXHAUSTIVE_FIRST = 5
# A gated activation's halves are swept one at a time over every 16-bit value, the other
# half held at a typical value (1) and at values whose product with an ordinary one
# overflows float16 (300 * 300 = 90000 > 65504): (a * b) * sigmoid(a) is then
# -inf * 0 = NaN at a = -300, b = 300, where silu(a) * b is 0.
GATED_HELD = (1.0, -300.0, 300.0)

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

# `inplace`: the in-place result against the out-of-place one on the same layout.
# torch's own in-place activations are bitwise equal (same kernel); one rounding of
# slack lets a hand-written in-place form reassociate (x.mul_(sigmoid(x)) against a
# fused kernel). A read of an element already overwritten is off by O(1).
INPLACE_ULPS = 1.0
# Its gradients against the out-of-place ones, in ulps of max(|grad|, |incoming grad|)
# (the parameters': of the summed incoming gradient). An in-place backward has only the
# output (ELU: y + alpha instead of alpha * exp(x)), which cancels near saturation;
# the worst over torch's in-place activations on 2.13 CPU was 1.5 ulps (SELU).
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

# `kinks` (and verify.analysis.kinkscan, which keeps the gradient checks off kinks).
# The scan: f and f' on a grid of step 2**-10 (about 1e-3; a binary fraction, so that
# 0, +-0.5, 3 and 6 are grid points and a NaN gradient exactly there is seen) over
# [-R, R], R = max(KINK_SCAN_RANGE, 2 * the largest |declared kink| or |parameter| + 1),
# at most KINK_SCAN_MAX_RANGE; the step doubles while the grid times the channels
# passes KINK_SCAN_MAX_POINTS (1 MB of float64: [-10, 10] on 4 channels is 82,000
# points; softplus's [-81, 81] at beta = 1/2 gets step 2**-7). A coarser step costs
# sensitivity to small slope changes on curved pieces (see KINK_SCAN_RATIO), not to
# jumps, and keeps the check near 0.1 s for the widest registered range.
KINK_SCAN_RANGE = 10.0
KINK_SCAN_STEP = 2.0**-10
KINK_SCAN_MAX_RANGE = 256.0
KINK_SCAN_MAX_POINTS = 1 << 17
# Inputs this close (relative) to a finite end of the domain are not scanned.
KINK_DOMAIN_MARGIN = 1e-3
# A candidate: two neighbouring second differences summing to more than
# KINK_SCAN_RATIO times the median around them (a smooth f gives about 2 f'' h^2 at
# every point, a slope change s gives s h: s > 100 h |f''| stands out, 0.1 |f''| at
# step 2**-10) and more than KINK_NOISE_ULPS float64 roundings of |f| + |x| at the
# points in them (piecewise-linear pieces give exactly 0 away from kinks, so only
# rounding is left to stand above; a formula that cancels, (x + sqrt(x^2 + 1e-12)) / 2,
# leaves noise of a few ulps of |x| where f is 1e-13). Candidates are confirmed or
# dropped by the one-sided limits below, so these only trade time for sensitivity. At
# most KINK_MAX_CANDIDATES a channel (the strongest).
KINK_SCAN_RATIO = 50.0
KINK_NOISE_ULPS = 64.0
KINK_MAX_CANDIDATES = 64
# Localisation (verify.analysis.kinkscan.localise): KINK_LOCATE_STAGES rounds of
# KINK_LOCATE_SAMPLES points across the bracket, each keeping a sub-bracket about 11
# times narrower (5e-3 -> 4e-5 wide), then scipy.optimize.elementwise.find_root to
# KINK_LOCATE_XTOL. What limits the result is a jump c of f'' at the kink, which pulls
# the peak of the second-difference tent by c * delta * e / (slope change), about
# 4e-12 c / (slope change) at the last stage's scales. Measured error on the registry's
# kinks: 5.4e-12 at most (SELU at 0). A located point within KINK_SNAP of a short binary
# or decimal fraction is taken to be it (the gradient at a kink is asked for at 0, not
# at 3e-13); KINK_MATCH is how close a found kink must be to a declared one.
# KINK_LOCATE_ERROR bounds the error the judgement allows for (a slope change s makes
# an evaluation point that far off the kink look like a jump of s times it).
KINK_LOCATE_SAMPLES = 33
KINK_LOCATE_STAGES = 3
KINK_LOCATE_XTOL = 1e-13
KINK_LOCATE_ERROR = 1e-10
KINK_SNAP = 1e-10
KINK_MATCH = 1e-6
# A run of at most this many non-finite grid values is a point (sqrt(x * x)'s
# gradient at 0); a longer one is a region (an overflow), the `stability` check's.
KINK_NONFINITE_RUN = 2
# One-sided limits of f^(k) by Richardson extrapolation of one-sided k-th differences
# on x + s h (1 .. k+1), h halving KINK_RICHARDSON_LEVELS times from
# KINK_RICHARDSON_H[k]. Rounding costs about 2^k eps |f| / h^k; the truncation error
# after 4 levels is O(h^4): for f (k = 1, h from 1e-4) both are below 1e-10 on every
# registered activation, for f' (k = 1, 2; f'' and f''') below 1e-6.
KINK_RICHARDSON_H = {0: 1e-4, 1: 1e-4, 2: 2e-3}
KINK_RICHARDSON_LEVELS = 4
# A subject that computes at a narrower resolution (verify.analysis.precision) rounds
# eps / eps64 times more: the rounding eps / h^k against the truncation h^4 of the
# extrapolation puts the best h at about eps^(1/5) (float32: 56 times float64's).
KINK_RICHARDSON_H_AT = {dt: {k: h * (EPS[dt] / EPS[torch.float64]) ** (1 / 5) for k, h in KINK_RICHARDSON_H.items()}
                        for dt in ALL_FLOAT}
# Two one-sided limits differ when they are further apart than KINK_ERROR_FACTOR
# times the extrapolations' own error estimates plus a relative tolerance: slopes
# (d- against d+) KINK_SLOPE_RTOL, second derivatives KINK_SECOND_RTOL, third
# KINK_THIRD_RTOL (each of max(1, |value|)). The smallest slope change in the registry
# is 0.1 (SReLU's), the smallest jump of f'' 1 (ELU); the estimates' errors are 1e-10
# and 1e-6.
KINK_ERROR_FACTOR = 16.0
KINK_SLOPE_RTOL = 1e-6
KINK_SECOND_RTOL = 1e-4
KINK_THIRD_RTOL = 1e-3
# A jump of the value: more than KINK_JUMP_ULPS float64 ulps of |f| (max 1) between the
# one-sided limits. Two formulas of one function meet within a few ulps where an
# implementation switches branch; softplus's threshold switch leaves 2.1e-9 at x = 20,
# 600,000 float64 ulps: a real jump in float64, one a central difference with step 1e-6
# sees as a slope error of 1e-3.
KINK_JUMP_ULPS = 256.0
# A jump smaller than half a float32 ulp of the value cannot change a float32 (or
# narrower) result: harmless in training. Without a spec such a jump is a finding; a
# registered spec must still declare it (float64 gradient checks must avoid it).
KINK_JUMP_VISIBLE_DTYPE = torch.float32
# Autograd's gradient at a kink is inside the subdifferential [min(d-, d+), max(d-, d+)]
# widened by KINK_GRAD_RTOL of max(1, |d|) in float64 and by KINK_GRAD_ULPS roundings
# in a narrower dtype (the parameters are rounded too: SReLU's 0.1 slope is 0.10009765625
# in bfloat16), plus |f''| times how far rounding moved the input off the kink (0.9 is
# 0.8984375 in bfloat16).
KINK_GRAD_RTOL = 1e-6
KINK_GRAD_ULPS = 4.0

# `memory`: the realistic step's activation input holds about MEMORY_STEP_NUMEL elements
# (256 KiB in float32), enough that the step's bookkeeping (biases, the scalar loss,
# the one-unit head's output: under 0.5% of it) cannot hide a whole input-sized tensor,
# and small enough for the check to take milliseconds.
MEMORY_STEP_NUMEL = 1 << 16
# An in-place variant "saves training memory" when it lowers the training peak by at
# least this fraction of one input-sized tensor, less the head's output (which the
# in-place peak includes: it is allocated while the activation's output is held). A
# perfect in-place variant of an activation whose out-of-place form saves only its
# output lowers it by exactly one input less the head (measured: 0.996 of the input);
# the 5% left is for bias- and scalar-sized buffers.
MEMORY_INPLACE_MIN_SAVING = 0.95
# Bytes a step still holds after its forward beyond its output and what the saved-
# tensor hooks saw (a tensor kept on ctx or in a closure, invisible to the hooks) are
# reported from this fraction of one input-sized tensor: exact accounting leaves only
# a scalar loss and a few bias-sized buffers below it.
MEMORY_HIDDEN_HELD = 0.5
# On CUDA the dispatch-mode accounting must predict the caching allocator's saving
# (out-of-place peak minus in-place peak) to within this fraction of one input-sized
# tensor. The allocator rounds every block up to 512 bytes and its reductions and
# cuBLAS take scratch the accounting cannot see; at MEMORY_STEP_NUMEL float32
# elements a handful of such blocks is about 1% of the input. Not yet measured on a
# GPU: the first `tox -e cuda` run should confirm or tighten it.
MEMORY_CUDA_AGREEMENT = 0.05

# `saturation`: |f'| below SATURATION_VANISHING vanishes, above SATURATION_EXPLODING
# explodes: three decades either side of a unit slope, the defaults (the options
# "vanishing" and "exploding" override them).
SATURATION_VANISHING = 1e-3
SATURATION_EXPLODING = 1e3
# The dead fraction P(|f'(x)| < SATURATION_VANISHING) is integrated under x ~ N(0, sigma^2)
# for each of these sigma (unit-variance pre-activations, and narrower and wider ones).
DEAD_FRACTION_SIGMAS = (0.5, 1.0, 2.0, 5.0)
# The scan: |x| log-spaced from SATURATION_MIN_ABS to the dtype's max, 16 points a
# decade as in `stability`, both signs, and 0; plus a uniform grid of step
# SATURATION_DENSE_STEP on |x| <= SATURATION_DENSE_RANGE (more than ten standard
# deviations of the widest sigma above), so that a narrow dip of |f'| near a double zero of f'
# (snake's 1 + sin(2x) touches 0 on windows 0.045 wide) is not stepped over where the
# dead fraction counts it. Where f' changes sign between grid points its zero is located
# and added. Boundaries are then located between grid points to the dtype's resolution.
SATURATION_POINTS_PER_DECADE = 16
SATURATION_MIN_ABS = 1e-6
SATURATION_DENSE_RANGE = 64.0
SATURATION_DENSE_STEP = 1.0 / 32.0
# At most this many intervals of each kind are listed per dtype (those nearest 0; the
# rest are counted). The dead fraction uses all of them.
SATURATION_MAX_INTERVALS = 16
# Points of |f'| kept per dtype for the report's plot.
SATURATION_CURVE_POINTS = 160
# A low-precision dtype whose |f'| vanishes where float64's is at least this many times
# the vanishing threshold has lost the gradient to its own rounding (or to a bug that
# only its code path has): a finding.
SATURATION_LOST_FACTOR = 10.0

# `propagation`: the depth experiment runs a float32 MLP of PROPAGATION_DEPTH layers of
# PROPAGATION_WIDTH units on PROPAGATION_BATCH inputs (fixed seed PROPAGATION_SEED), at
# Kaiming's sigma_w^2 = 2, sigma_b = 0 unless the options say otherwise: 0.1 to 0.2 s of
# one CPU core. It measures, per input, log(|dL/dh_0| / |dL/dh_L|) and averages over the
# batch, backpropagating through the network's own weights and, a second time, through
# fresh ones (the gradient-independence assumption of the theory, made exact); mean-field
# theory predicts the sum over layers of log(chi_1(q_l)) / 2.
# Finite width N moves each layer's factor: |W^T u|^2 / |u|^2 by a relative 2 / N and the
# mean of phi'^2 over the units by kappa / N; and the layer variances stray from q_l,
# which moves chi_1 where it depends on q (softplus at Kaiming's init, where q grows
# without bound). verify.analysis.meanfield.MeanField.log_ratio_spread propagates both, to first
# order in 1 / N, into a standard deviation of the log-ratio (0.3 to 0.8 at 50 x 256 over
# the reference activations) and a downward bias (about 0.1 to 0.15). Over eight seeds
# and two initialisations per activation the worst deviation was 2.7 of those standard
# deviations. The experiment agrees with theory when either run is within
# PROPAGATION_SIGMAS standard deviations plus the bias (1.35 to 3.4, a factor 4 to 30 in
# gradient norm); a backward wrong by 5% (a factor 1.05 a layer) is off by 2.4 at depth
# 50, and a wrong analysis by O(depth). Only the tied run departing is a finding: the
# gradient-independence assumption failing at this width (softplus: +0.8 on average).
PROPAGATION_DEPTH = 50
PROPAGATION_WIDTH = 256
PROPAGATION_BATCH = 256
PROPAGATION_SEED = 0
PROPAGATION_SIGMAS = 4.0
# Kaiming (He et al. 2015) initialisation: sigma_w^2 = 2 (gain sqrt 2), sigma_b = 0.
KAIMING_SIGMA_W2 = 2.0
# A depth experiment shorter than this (the variance overflows earlier) is not run.
PROPAGATION_MIN_DEPTH = 10
# The depth experiment keeps every layer's graph for its backward: what one call of the
# subject holds per unit, measured on a small call, sizes it to fit this many bytes
# (a worker's memory limit is at least 1 GiB), fewer inputs first (the tolerance is
# per input, so a smaller batch keeps it), then fewer layers; below
# PROPAGATION_MIN_BATCH inputs and PROPAGATION_MIN_DEPTH layers it is not run.
PROPAGATION_MEMORY_BYTES = 512 * 2**20
PROPAGATION_MIN_BATCH = 16
# The sigma_b^2 at which the edge of chaos is searched (Poole et al. 2016 and Schoenholz
# et al. 2017 draw their phase diagrams over sigma_b^2 up to about 0.5).
SIGMA_B2_GRID = (0.0, 0.01, 0.05, 0.1, 0.2, 0.5)
# A declared init gain promises that gradients keep their norm through depth: at
# sigma_w = gain, sigma_b = 0 the mean-field gradient norm may change by at most a factor
# GAIN_NORM_FACTOR over GAIN_DEPTH layers, |log chi_1| <= 2 log(2) / 50 = 0.028. ReLU's
# sqrt 2 gives chi_1 = 1 exactly and torch's SELU gain 3/4 gives 1.0037; a He/LeCun mix-up
# (a factor sqrt 2 in gain) gives chi_1 = 2 or 1/2.
GAIN_NORM_FACTOR = 2.0
GAIN_DEPTH = 50
# Self-normalisation (Klambauer et al. 2017): (mean 0, variance 1) is a fixed point of the
# mean/variance map when the map moves it by at most SELF_NORMALISING_ATOL (the published
# constants have 30 digits and the quadrature is exact to 1e-15; constants cut to 5
# digits, 1.0507 and 1.6733, move it by 2e-5, to 3 digits by 3e-3). Within
# SELF_NORMALISING_NEAR the map is reported, and a miss between the two is a finding.
SELF_NORMALISING_ATOL = 1e-9
SELF_NORMALISING_NEAR = 1e-2
