"""`propagation`: how gradients pass through a deep stack of the activation.

Mean-field theory (Poole et al. 2016; Schoenholz et al. 2017; :mod:`verify.analysis.meanfield`)
on the function phi of channel 0, at the spec's default parameters, through the spec's
reference formula where there is one (so that the experiment below, which runs the
subject's own backward, can disagree with it) and through the subject otherwise:

* the fixed point q* of the variance map and chi_1 there, at Kaiming initialisation
  (sigma_w^2 = 2, sigma_b = 0) and at the init gain the spec declares or torch's
  ``calculate_gain`` gives;
* the edge of chaos, the sigma_w^2 where chi_1 = 1, at sigma_b = 0 and on a small grid of
  sigma_b^2 (None where chi_1 never crosses 1 continuously, as for GELU at sigma_b = 0);
* a recommended init gain: the edge of chaos at sigma_b = 0 where there is one, else the
  gain that keeps a unit variance (sigma_w^2 E[phi(z)^2] = 1);
* for a function whose mean/variance map (Klambauer et al. 2017) holds or nearly holds
  (0, 1), the map there and its Jacobian.

Then a deep float32 MLP at the same initialisation measures the log gradient-norm ratio
between its first and last layer against the prediction. It starts at q* when that is
finite and positive (the prediction is then depth * log(chi_1) / 2) and at q = 1
otherwise (the prediction follows the variance layer by layer).

Options (``ctx.options["propagation"]``): ``sigma_w2`` and ``sigma_b2`` of the experiment
(Kaiming's 2 and 0), ``depth``, ``width``, ``batch``, ``seed``.

The check is a diagnostic. It fails only when a declared gain is contradicted (at it,
gradient norms change by more than ``GAIN_NORM_FACTOR`` over ``GAIN_DEPTH`` layers) or
when the experiment disagrees with the theory beyond its finite-width tolerance (see
``verify.tolerances``): a bug in the activation's backward or in the analysis.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn

from verify import tolerances as tol
from verify.analysis.kinkscan import kinks as kinks_of
from verify.analysis.meanfield import Q_MAX, SIGMA_W2_GRID, MeanField
from verify.analysis.memory import LiveMemory
from verify.checks._edges import by_channel, call, evaluate, first_nonfinite_op, lay
from verify.checks._grad import cut_from_graph
from verify.checks._layout import channel_dependent
from verify.checks.base import Context, Outcome, check, failed, one_thread, passed, skipped
from verify.subject import Subject

# The nonlinearity names of torch.nn.init.calculate_gain, by the lower-cased last part of
# a spec's builtin name or a torch.nn module's class name.
TORCH_GAIN_NAMES = {"relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid", "selu": "selu",
                    "leaky_relu": "leaky_relu", "leakyrelu": "leaky_relu"}


@check("propagation", cost_s=0.3)
def check_propagation(subject: Subject, ctx: Context) -> Outcome:
    """Mean-field chi_1, edge of chaos and init gain, confirmed by a deep MLP."""
    if subject.not_positionwise is not None:
        return skipped(subject.not_positionwise)
    lo, hi = subject.domain()
    if math.isfinite(lo) or math.isfinite(hi):
        return skipped(f"the domain ({lo:g}, {hi:g}) is not the real line: Gaussian pre-activations leave it")
    if len(subject.base_shape) < 2:
        return skipped("the subject takes only 1-d inputs; a layer of units needs a channel dimension")
    cut = _cut(subject, ctx)
    if cut is not None:
        return skipped(f"{cut}: there is no backward signal to propagate (the gradient checks fail the cut)")
    opts = ctx.options.get("propagation", {})
    sw2 = float(opts.get("sigma_w2", tol.KAIMING_SIGMA_W2))
    sb2 = float(opts.get("sigma_b2", 0.0))
    depth = int(opts.get("depth", tol.PROPAGATION_DEPTH))
    width = int(opts.get("width", tol.PROPAGATION_WIDTH))
    batch = int(opts.get("batch", tol.PROPAGATION_BATCH))
    seed = int(opts.get("seed", tol.PROPAGATION_SEED))

    spec = subject.spec
    mf = MeanField.of(_sampler(subject), kinks=kinks_of(subject))
    details: dict[str, Any] = {"channel": 0, "params": spec.defaults() if spec is not None else None,
                               "analysed": "spec reference" if spec is not None else "subject"}
    if channel_dependent(subject):
        details["channel_note"] = "the function differs between channels; channel 0 is analysed and stacked"
    bad = ~(np.isfinite(mf.phi) & np.isfinite(mf.dphi))
    if bad.any():
        i = int(np.flatnonzero(bad)[np.argmin(np.abs(mf.rule.x[bad]))])
        x = float(mf.rule.x[i])
        what = "phi" if not np.isfinite(mf.phi[i]) else "phi'"
        value = mf.phi[i] if what == "phi" else mf.dphi[i]
        at = lay(subject, torch.tensor([x], dtype=torch.float64))
        cause = first_nonfinite_op(subject.instance(torch.float64), at)
        return skipped(f"{what} is {value} at x = {x:.6g} (inside the Gaussian integrals, out to |x| = "
                       f"{float(np.abs(mf.rule.x).max()):.4g})" + (f": {cause}, an overflow inside the activation"
                                                                    if cause else "")
                       + "; the mean-field integrals cannot be taken (stability judges the overflow)",
                       details={**details, "nonfinite_x": x, "cause": cause})
    if not np.any(mf.phi) and not np.any(mf.dphi):
        return skipped("the activation is identically zero (phi = phi' = 0 at every quadrature node): no signal "
                       "and no gradient propagates, so there is nothing to analyse (saturation fails it)",
                       details=details)
    problems: list[str] = []
    findings: list[str] = []

    # -- theory ------------------------------------------------------------------------
    q_star, chi1 = mf.chi1_at_fixed_point(sw2, sb2)
    chi1_kaiming = chi1 if (sw2, sb2) == (tol.KAIMING_SIGMA_W2, 0.0) else \
        mf.chi1_at_fixed_point(tol.KAIMING_SIGMA_W2, 0.0)[1]
    sb2_grid = tuple(dict.fromkeys((0.0, *tol.SIGMA_B2_GRID)))
    curves = np.array([mf.chi1_curve(SIGMA_W2_GRID, b) for b in sb2_grid])
    critical = [mf.critical_sigma_w2(b, curve=c) for b, c in zip(sb2_grid, curves, strict=True)]
    if critical[0] is not None:
        recommended, rule = math.sqrt(critical[0]), "edge of chaos at sigma_b = 0"
    else:
        recommended, rule = 1.0 / math.sqrt(mf.variance_map(1.0, 1.0, 0.0)), "unit variance at sigma_b = 0"
    details.update({
        "q_star": q_star, "chi1": chi1, "chi1_kaiming": chi1_kaiming,
        "critical_sigma_w2": critical[0],
        "critical_by_sigma_b2": [[b, c] for b, c in zip(sb2_grid, critical, strict=True)],
        "recommended_gain": recommended, "recommended_gain_rule": rule,
        "chi1_recommended_gain": mf.chi1_at_fixed_point(recommended**2, 0.0)[1],
    })
    declared = spec.properties.gain if spec is not None else None
    if declared is not None:
        chi1_declared = mf.chi1_at_fixed_point(declared**2, 0.0)[1]
        details.update({"declared_gain": declared, "chi1_declared_gain": chi1_declared})
        if not _keeps_norm(chi1_declared):
            problems.append(
                f"declares gain {declared:.4g}, but there (sigma_b = 0) chi_1 = {chi1_declared:.4g}: gradient norms "
                f"change by {_factor(chi1_declared, tol.GAIN_DEPTH)} over {tol.GAIN_DEPTH} layers "
                f"(recommended gain {recommended:.4g}, {rule})")
    tg = torch_gain(subject)
    details.update({"torch_gain": None if tg is None else tg[1], "torch_nonlinearity": None if tg is None else tg[0]})
    if tg is not None:
        chi1_torch = mf.chi1_at_fixed_point(tg[1] ** 2, 0.0)[1]
        details["chi1_torch_gain"] = chi1_torch
        if not _keeps_norm(chi1_torch):
            findings.append(
                f"torch's calculate_gain('{tg[0]}') = {tg[1]:.4g} gives chi_1 = {chi1_torch:.4g}: gradient norms change "
                f"by {_factor(chi1_torch, tol.GAIN_DEPTH)} over {tol.GAIN_DEPTH} layers (recommended gain "
                f"{recommended:.4g}, {rule})")

    snm = mf.mean_variance_map()
    miss = max(abs(snm["mean"]), abs(snm["variance"] - 1.0))
    if miss <= tol.SELF_NORMALISING_NEAR:
        # Self-normalising: (0, 1) a fixed point that attracts (spectral norm below 1).
        fixed = miss <= tol.SELF_NORMALISING_ATOL
        details["self_normalising"] = {**snm, "fixed_point": fixed, "attracting": snm["spectral_norm"] < 1.0}
        if not fixed:
            findings.append(
                f"the mean/variance map takes (0, 1) to ({snm['mean']:.3g}, {snm['variance']:.6g}): near but not at "
                "the self-normalising fixed point (constants rounded?)")

    # -- experiment --------------------------------------------------------------------
    q0 = q_star if 0.0 < q_star < math.inf else 1.0
    qs = mf.trajectory(q0, sw2, sb2, depth)
    over = np.flatnonzero(~np.isfinite(qs) | (qs > Q_MAX))
    used = depth if over.size == 0 else int(over[0])
    if used < depth:
        findings.append(f"the variance passes {Q_MAX:g} after {used} layers at sigma_w^2 = {sw2:g}, "
                        f"sigma_b^2 = {sb2:g}; the depth experiment is cut to {used} layers")
    held, peak = unit_bytes(subject, ctx.device, width)
    fits_batch, fits_depth = sized(held, peak, width, batch, used)
    details.update({"held_bytes_per_unit": held, "peak_bytes_per_unit": peak,
                    "memory_budget_bytes": tol.PROPAGATION_MEMORY_BYTES})
    if (fits_batch, fits_depth) != (batch, used):
        cost = experiment_bytes(held, peak, width, batch, used)
        fitted = (f"cut to {fits_batch} inputs and {fits_depth} layers" if fits_depth >= tol.PROPAGATION_MIN_DEPTH
                  else "not run")
        findings.append(f"the depth experiment at {batch} inputs and {used} layers would hold {cost / 2**20:.4g} MiB "
                        f"(one call of the activation holds {held:.4g} B per unit for the backward and peaks at "
                        f"{peak:.4g} B per unit), past its {tol.PROPAGATION_MEMORY_BYTES / 2**20:g} MiB budget: "
                        f"{fitted}")
        batch, used = fits_batch, fits_depth
    details.update({"sigma_w2": sw2, "sigma_b2": sb2, "depth": used, "width": width, "batch": batch,
                    "seed": seed, "q0": q0})
    qs = qs[: used + 1]
    summary_run = ""
    if used >= tol.PROPAGATION_MIN_DEPTH:
        predicted = mf.predicted_log_ratio(qs, sw2)
        spread, bias = mf.log_ratio_spread(qs, sw2, sb2, width)
        allowed = tol.PROPAGATION_SIGMAS * spread + bias
        with one_thread():
            empirical, untied = depth_experiment(subject, ctx.device, q0, sw2, sb2, used, width, batch, seed)
        details.update({
            "empirical_log_ratio": empirical, "empirical_log_ratio_untied": untied, "predicted_log_ratio": predicted,
            "predicted_log_ratio_fixed_point": used * math.log(chi1) / 2 if chi1 > 0 else -math.inf,
            "log_ratio_tolerance": allowed, "log_ratio_sd": spread,
        })
        summary_run = (f"; {used}-layer MLP: log gradient ratio {empirical:.3g} against {predicted:.3g} predicted "
                       f"(tolerance {allowed:.2g})")
        tied_ok, untied_ok = abs(empirical - predicted) <= allowed, abs(untied - predicted) <= allowed
        # The experiment runs in float32: a predicted change of the gradient norm past
        # float32's range (e^88) under- or overflows there, which is the prediction.
        beyond = abs(predicted) > math.log(torch.finfo(torch.float32).max)
        if beyond and not (math.isfinite(empirical) and math.isfinite(untied)):
            findings.append(
                f"mean-field theory predicts the gradient norm to change by e^{predicted:.4g} over {used} layers, "
                "beyond float32's range: the MLP's gradients under- or overflow, as predicted")
        elif not (tied_ok or untied_ok):
            problems.append(
                f"a {used}-layer, {width}-wide MLP at sigma_w^2 = {sw2:g}, sigma_b^2 = {sb2:g} has log gradient-norm "
                f"ratio {empirical:.4g} between first and last layer ({untied:.4g} backpropagating through fresh "
                f"weights); mean-field theory predicts {predicted:.4g} (tolerance {allowed:.2g}): a bug in the "
                "activation's backward or in the analysis")
        elif not tied_ok:
            findings.append(
                f"the {used}-layer MLP's log gradient ratio {empirical:.4g} departs from mean-field theory's "
                f"{predicted:.4g} by more than {allowed:.2g}, while backpropagating through fresh weights gives "
                f"{untied:.4g}: the gradient-independence assumption fails here at width {width}")
    details["chi1_curve"] = {"sigma_w2": SIGMA_W2_GRID.tolist(), "sigma_b2": list(sb2_grid),
                             "chi1": curves.tolist()}

    crit = "no edge of chaos at sigma_b = 0" if critical[0] is None else \
        f"edge of chaos at sigma_w^2 = {critical[0]:.6g}"
    summary = f"chi_1 = {chi1:.4g} at sigma_w^2 = {sw2:g}, sigma_b^2 = {sb2:g} (q* = {q_star:.4g}); {crit}; " \
              f"recommended gain {recommended:.4g}" + (f" (torch {tg[1]:.4g})" if tg is not None else "") + summary_run
    if problems:
        return failed("; ".join(problems), details=details, findings=findings)
    return passed(summary, details=details, findings=findings)


def _keeps_norm(chi1: float) -> bool:
    """Whether gradients keep their norm to GAIN_NORM_FACTOR over GAIN_DEPTH layers."""
    band = 2 * math.log(tol.GAIN_NORM_FACTOR) / tol.GAIN_DEPTH
    return 0.0 < chi1 < math.inf and abs(math.log(chi1)) <= band


def _factor(chi1: float, depth: int) -> str:
    return f"a factor {math.exp(depth * math.log(chi1) / 2):.3g}" if 0.0 < chi1 < math.inf else f"chi_1 = {chi1}"


def _cut(subject: Subject, ctx: Context) -> str | None:
    """Why no gradient reaches the input at all (an output cut from its graph), or None."""
    fn = subject.instance(torch.float64, ctx.device)
    x = torch.linspace(-2, 2, int(torch.Size(subject.base_shape).numel()), dtype=torch.float64,
                       device=ctx.device).reshape(subject.base_shape).requires_grad_()
    y = fn(x.clone())
    if isinstance(y, torch.Tensor) and not y.requires_grad:
        return cut_from_graph(lambda t: fn(t.clone()), x, y)
    return None


def _sampler(subject: Subject) -> Any:
    """phi and phi' of channel 0 in float64 at an array of inputs: through the spec's
    reference formula (ground truth), or the subject itself when there is no spec."""
    spec = subject.spec
    fn: Any
    if spec is not None:
        fn = functools.partial(spec.reference, **spec.defaults())
    else:
        fn = subject.instance(torch.float64, "cpu")

    def sample(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y, g = evaluate(subject, fn, torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64)), grad=True)
        assert g is not None
        return y[0].numpy(), g[0].numpy()

    return sample


def torch_gain(subject: Subject) -> tuple[str, float] | None:
    """torch.nn.init.calculate_gain for the subject's torch equivalent, when torch has one:
    the spec's declared builtin, or a subject that is a torch.nn module."""
    if subject.spec is not None:
        name = (subject.spec.builtin_name or "").split("(")[0]
        key = name.rsplit(".", 1)[-1].lower()
        slope = subject.spec.defaults().get("negative_slope")
    else:
        module = subject.factory()
        if not isinstance(module, nn.Module) or not type(module).__module__.startswith("torch.nn"):
            return None
        key = type(module).__name__.lower()
        slope = getattr(module, "negative_slope", None)
    nonlinearity = TORCH_GAIN_NAMES.get(key)
    if nonlinearity is None:
        return None
    return nonlinearity, float(nn.init.calculate_gain(cast(Any, nonlinearity), slope))


def _layer(subject: Subject, fn: Any, units: int) -> Any:
    """phi on a (batch, width) tensor of ``units`` units through the subject ``fn``."""
    base = subject.base_shape
    shared = not channel_dependent(subject) and units % base[1] == 0

    def phi(h: Tensor) -> Tensor:
        if shared:  # every channel computes phi: spread the units over all of them
            shape = (1, base[1], -1) + (1,) * (len(base) - 3) if len(base) >= 3 else (-1, base[1])
            return fn(h.reshape(shape).clone()).reshape(h.shape)  # a copy: fn may work in place
        y = by_channel(subject, call(subject, fn, lay(subject, h.reshape(-1))))[0]
        return y.reshape(h.shape)

    return phi


# Inputs of the small call that measures what one layer costs.
PROBE_BATCH = 4


def unit_bytes(subject: Subject, device: str, width: int) -> tuple[float, float]:
    """Bytes per unit of one float32 layer of the depth experiment, measured on a small
    call: held after its forward (its input, output and what its graph saved for the
    backward) and at the forward's peak."""
    fn = subject.instance(torch.float32, device)
    phi = _layer(subject, fn, PROBE_BATCH * width)
    gen = torch.Generator().manual_seed(0)
    h = torch.randn(PROBE_BATCH, width, generator=gen).to(device).requires_grad_()
    with LiveMemory() as mem, torch.enable_grad():
        a = phi(h)
        held, peak = mem.current, mem.peak
    del a
    return (held + h.nbytes) / h.numel(), peak / h.numel()


def experiment_bytes(held: float, peak: float, width: int, batch: int, depth: int) -> float:
    """What the depth experiment holds at once: every layer's graph and weights, and
    one forward's transients."""
    return batch * width * (depth * held + peak) + depth * width * width * 4


def sized(held: float, peak: float, width: int, batch: int, depth: int) -> tuple[int, int]:
    """The batch and depth that fit :data:`~verify.tolerances.PROPAGATION_MEMORY_BYTES`:
    fewer inputs first, then fewer layers (a depth below the minimum: not run)."""
    budget = tol.PROPAGATION_MEMORY_BYTES
    if experiment_bytes(held, peak, width, batch, depth) <= budget:
        return batch, depth
    per_input = width * (depth * held + peak)
    fewer = int((budget - depth * width * width * 4) // per_input) if per_input > 0 else batch
    if fewer >= tol.PROPAGATION_MIN_BATCH:
        return min(batch, fewer), depth
    batch = min(batch, tol.PROPAGATION_MIN_BATCH)
    per_layer = batch * width * held + width * width * 4
    return batch, max(0, min(depth, int((budget - batch * width * peak) // per_layer)))


def depth_experiment(subject: Subject, device: str, q0: float, sigma_w2: float, sigma_b2: float, depth: int,
                     width: int, batch: int, seed: int) -> tuple[float, float]:
    """The mean over a batch of log(|dL/dh_0| / |dL/dh_L|) in a float32 MLP
    h_{l+1} = W_l phi(h_l) + b_l, with h_0 ~ N(0, q0), W_l ~ N(0, sigma_w^2 / width),
    b_l ~ N(0, sigma_b^2) and a random unit gradient at h_L: backpropagated through the
    network's own weights (tied), and through fresh weights of the same law (untied: the
    gradient-independence assumption of mean-field theory made exact). Each layer's
    backward goes through the subject's own autograd; gradients are renormalised per
    input at every layer, so nothing under- or overflows however fast they shrink or
    grow."""
    fn = subject.instance(torch.float32, device)
    for _, p in subject.parameters(fn):
        p.requires_grad_(False)  # only input gradients are followed
    z = _normals(seed, depth, width, batch)

    def draw(z: Tensor, std: float) -> Tensor:
        return (z * std).to(device)

    phi = _layer(subject, fn, batch * width)
    std_w = math.sqrt(sigma_w2 / width)
    h = draw(z.h, std=math.sqrt(q0))
    layers: list[tuple[Tensor, Tensor, Tensor]] = []
    for i in range(depth):
        w = draw(z.w[i], std=std_w)
        b = draw(z.b[i], std=math.sqrt(sigma_b2))
        leaf = h.detach().requires_grad_()
        with torch.enable_grad():
            a = phi(leaf)
        layers.append((leaf, a, w))
        h = a.detach() @ w.T + b
    top = draw(z.top, std=1.0)
    ratios = []
    for tied in (True, False):
        delta = top / top.norm(dim=1, keepdim=True)
        log_ratio = torch.zeros(batch, dtype=torch.float64, device=device)
        for i, (leaf, a, w) in enumerate(reversed(layers)):
            w = w if tied else draw(z.fresh[i], std=std_w)
            (g,) = torch.autograd.grad(a, leaf, delta @ w, retain_graph=tied)
            norm = g.norm(dim=1, keepdim=True)
            log_ratio += norm.double().log().flatten()
            delta = g / norm
        ratios.append(float(log_ratio.mean()))
    return ratios[0], ratios[1]


@dataclass(frozen=True)
class _Normals:
    """The standard normal draws of a depth experiment, in the order they are drawn:
    the inputs, each layer's weights and biases, the gradient at the top (from ``seed``),
    and the fresh weights of the untied backward pass, top layer first (from ``seed`` + 1)."""

    h: Tensor
    w: list[Tensor]
    b: list[Tensor]
    top: Tensor
    fresh: list[Tensor]


@functools.lru_cache(maxsize=1)
def _normals(seed: int, depth: int, width: int, batch: int) -> _Normals:
    """Drawn once a process for every subject with this experiment (a fixed seed): the
    same numbers, without a fifth of the experiment's time spent drawing them again."""
    gen, fresh = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 1)

    def draw(*shape: int, g: torch.Generator = gen) -> Tensor:
        return torch.randn(shape, generator=g, dtype=torch.float32)

    h = draw(batch, width)
    w, b = [], []
    for _ in range(depth):
        w.append(draw(width, width))
        b.append(draw(width))
    top = draw(batch, width)
    return _Normals(h, w, b, top, [draw(width, width, g=fresh) for _ in range(depth)])
