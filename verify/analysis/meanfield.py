"""Mean-field signal propagation through a deep, wide, randomly initialised network.

Poole, Lahiri, Raghu, Sohl-Dickstein & Ganguli, "Exponential expressivity in deep neural
networks through transient chaos", NeurIPS 2016; Schoenholz, Gilmer, Ganguli &
Sohl-Dickstein, "Deep Information Propagation", ICLR 2017; the mean/variance map of
Klambauer, Unterthiner, Mayr & Hochreiter, "Self-Normalizing Neural Networks", NeurIPS 2017.

A layer h' = W phi(h) + b with W_ij ~ N(0, sigma_w^2 / N) and b_i ~ N(0, sigma_b^2) has, as
N grows, Gaussian pre-activations of variance q, and

    q' = V(q) = sigma_w^2 E[phi(sqrt(q) z)^2] + sigma_b^2          (the variance map)
    chi_1(q) = sigma_w^2 E[phi'(sqrt(q) z)^2]                       (per layer, E|dL/dh|^2)

with z ~ N(0, 1). At the fixed point q* of V, gradients grow (chi_1 > 1), shrink (< 1) or
keep their norm (= 1, the edge of chaos) by sqrt(chi_1) a layer.

Every expectation is an integral over x ~ N(0, q) on one composite Gauss-Legendre rule in
x, fixed per function: panels that grow geometrically away from 0 (so that one rule serves
every q from Q_MIN to Q_MAX), with each kink of phi on a panel edge. phi and phi' are
sampled on its nodes once; after that an expectation at any q is a dot product with the
Gaussian density, and its derivative in q a dot product with the density's.
(Gauss-Hermite rescales its nodes with q, so a kink off 0 falls between nodes and the rule
converges only algebraically there; scipy's quad per q would call phi thousands of times.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import brentq
from scipy.special import roots_legendre

# The range of variances the analysis follows. Below Q_MIN a variance counts as 0 (a
# signal that has died out), above Q_MAX as infinite (one that grows without bound).
Q_MIN = 1e-10
Q_MAX = 1e4
# The rule: Gauss-Legendre of RULE_ORDER nodes on panels [a, a * RULE_RATIO] from
# RULE_FIRST (a tenth of sqrt(Q_MIN)) out to RULE_X_MAX (14 standard deviations at Q_MAX;
# the Gaussian beyond weighs exp(-98)). Against closed forms (ReLU's E[phi'^2] = 1/2 and
# E[phi^2] = q/2, tanh's E[phi^2] against scipy's quad) it is exact to 1e-15 for every q
# from Q_MIN to Q_MAX, with about 1,700 nodes (12 nodes on panels twice as wide do as well).
RULE_ORDER = 16
RULE_RATIO = 1.5
RULE_FIRST = 1e-6
RULE_X_MAX = 14.0 * math.sqrt(Q_MAX)
# Fixed points are bracketed on a log grid of q with this many points a decade.
Q_GRID_PER_DECADE = 4
# Where V(q) - q is within this fraction of q the variance has stopped moving (it would
# take 1e12 layers to move by q): q is a fixed point (ReLU at sigma_w^2 = 2, where every
# q is one, up to rounding).
FIXED_POINT_RTOL = 1e-12
# phi' is read this far either side of 0 for chi_1's limit at q = 0.
ZERO_SIDE = 1e-12
# chi_1 - 1 at a located root of chi_1 = 1: larger means chi_1 jumps across 1 there (its
# fixed point switches from 0 to infinity, as for GELU at sigma_b = 0): no critical point.
CRITICAL_FTOL = 1e-6
# The sigma_w^2 searched for critical points: 1e-2 to 1e3, 8 a decade.
SIGMA_W2_GRID = np.logspace(-2.0, 3.0, 41)

# Values and derivatives of phi at an array of inputs.
Sampler = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Rule:
    """Nodes and weights of a quadrature rule on the real line (weights are dx)."""

    x: np.ndarray
    w: np.ndarray


def gauss_rule(breaks: Iterable[float] = ()) -> Rule:
    """The composite Gauss-Legendre rule described in the module docstring, with a panel
    edge at 0 and at every point of ``breaks`` inside the rule's range."""
    n = math.ceil(math.log(RULE_X_MAX / RULE_FIRST) / math.log(RULE_RATIO))
    pos = RULE_FIRST * RULE_RATIO ** np.arange(n + 1)
    extra = [float(b) for b in breaks if math.isfinite(b) and abs(b) < RULE_X_MAX]
    edges = np.unique(np.concatenate([-pos, [0.0], pos, extra]))
    t, wt = roots_legendre(RULE_ORDER)
    a, b = edges[:-1, None], edges[1:, None]
    return Rule(x=((a + b) / 2 + (b - a) / 2 * t).ravel(), w=((b - a) / 2 * wt).ravel())


class MeanField:
    """phi and phi' sampled on a rule; every quantity of the theory is computed from them.

    ``dphi0`` holds phi' just left and right of 0: as q -> 0 the Gaussian average of
    phi'^2 tends to the mean of their squares, which is chi_1 / sigma_w^2 at q* = 0."""

    def __init__(self, rule: Rule, phi: np.ndarray, dphi: np.ndarray, dphi0: tuple[float, float]) -> None:
        self.rule = rule
        self.phi = np.asarray(phi, dtype=np.float64)
        self.dphi = np.asarray(dphi, dtype=np.float64)
        self._phi2 = self.phi**2
        self._dphi2 = self.dphi**2
        self._dphi2_at_0 = (dphi0[0] ** 2 + dphi0[1] ** 2) / 2
        grid = np.logspace(math.log10(Q_MIN), math.log10(Q_MAX), round(math.log10(Q_MAX / Q_MIN) * Q_GRID_PER_DECADE) + 1)
        self._half_x2 = -(rule.x**2) / 2
        self._grid = grid
        self._grid_second = self._second_moments(grid)

    @classmethod
    def of(cls, sample: Sampler, kinks: Iterable[float] = ()) -> MeanField:
        rule = gauss_rule(kinks)
        phi, dphi = sample(rule.x)
        _, d0 = sample(np.array([-ZERO_SIDE, ZERO_SIDE]))
        return cls(rule, phi, dphi, (float(d0[0]), float(d0[1])))

    # -- expectations --------------------------------------------------------------
    def _weights(self, q: np.ndarray, d_dq: bool = False) -> np.ndarray:
        """Rule weights times the N(0, q) density, or times its derivative in q, one row
        per q."""
        q = np.asarray(q, dtype=np.float64).reshape(-1, 1)
        pdf = np.exp(self._half_x2 / q) / np.sqrt(2 * np.pi * q)
        if d_dq:
            pdf = pdf * (-2 * self._half_x2 - q) / (2 * q**2)
        return self.rule.w * pdf

    def expect(self, g: np.ndarray, q: float | np.ndarray, d_dq: bool = False) -> np.ndarray:
        """E over x ~ N(0, q) of g (sampled on the nodes), for each q; with ``d_dq`` its
        derivative in q. Nodes where the density underflows to 0 add nothing, even where g
        is infinite there (an exponential far out in the tail)."""
        wp = self._weights(np.atleast_1d(q), d_dq)
        if np.isfinite(g).all():
            return wp @ g
        with np.errstate(invalid="ignore", over="ignore"):
            terms = np.where(wp != 0, wp * g, 0.0)
        return terms.sum(axis=1)

    def _scalar(self, g: np.ndarray, q: float) -> float:
        return float(self.expect(g, q)[0])

    def _second_moments(self, q: np.ndarray) -> np.ndarray:
        return self.expect(self._phi2, q)

    # -- the variance map and chi_1 ----------------------------------------------------
    def variance_map(self, q: float, sigma_w2: float, sigma_b2: float) -> float:
        return sigma_w2 * self._scalar(self._phi2, q) + sigma_b2

    def chi1(self, q: float, sigma_w2: float) -> float:
        """chi_1 at variance q: its limit at q = 0, and q held to at most Q_MAX (at q*
        = inf, the limit of large q)."""
        if q <= 0.0:
            return sigma_w2 * self._dphi2_at_0
        return sigma_w2 * self._scalar(self._dphi2, min(max(q, Q_MIN), Q_MAX))

    def fixed_point(self, sigma_w2: float, sigma_b2: float, q0: float = 1.0) -> float:
        """The fixed point q* that iterating the variance map from q0 reaches: 0 when the
        variance dies out (below Q_MIN), inf when it grows past Q_MAX.

        With V increasing, the iteration moves monotonically towards the first point on
        the side V(q0) - q0 points to where V(q) - q changes sign or falls below
        FIXED_POINT_RTOL * q (where the variance stops moving in any realistic depth:
        ReLU6's V(q) - q is -3e-9 at q = 1 and -1e-14 at q = 0.5). That point is bracketed
        on a log grid of q and located with scipy's brentq."""

        def gap(q: float) -> float:
            d = self.variance_map(q, sigma_w2, sigma_b2) - q
            return d if math.isfinite(d) else math.inf

        d0 = gap(q0)
        if abs(d0) <= FIXED_POINT_RTOL * q0:
            return q0
        sign = 1.0 if d0 > 0 else -1.0
        grid = self._grid
        with np.errstate(invalid="ignore", over="ignore"):
            gaps = sigma_w2 * self._grid_second + sigma_b2 - grid
        gaps = np.where(np.isfinite(gaps), gaps, np.inf)
        # sign * gap - rtol * q: > 0 while the iteration still moves this way.
        moving = sign * gaps - FIXED_POINT_RTOL * grid
        if sign > 0:
            ahead = np.flatnonzero(grid > q0)
            stop = ahead[(moving[ahead] <= 0) | np.isinf(gaps[ahead])]
            if stop.size == 0 or np.isinf(gaps[stop[0]]):
                return math.inf
            lo, hi = (q0 if stop[0] == ahead[0] else grid[stop[0] - 1]), grid[stop[0]]
        else:
            behind = np.flatnonzero(grid < q0)
            stop = behind[moving[behind] <= 0]
            if stop.size == 0:
                return 0.0
            lo, hi = grid[stop[-1]], (q0 if stop[-1] == behind[-1] else grid[stop[-1] + 1])

        def edge(q: float) -> float:
            return sign * gap(q) - FIXED_POINT_RTOL * q

        return float(brentq(edge, lo, hi, xtol=1e-300, rtol=4 * np.finfo(float).eps))

    def chi1_at_fixed_point(self, sigma_w2: float, sigma_b2: float, q0: float = 1.0) -> tuple[float, float]:
        """(q*, chi_1 at q*); at q* = 0 or inf, chi_1 in that limit."""
        q = self.fixed_point(sigma_w2, sigma_b2, q0)
        return q, self.chi1(q, sigma_w2)

    def chi1_curve(self, sigma_w2s: Iterable[float], sigma_b2: float) -> np.ndarray:
        return np.array([self.chi1_at_fixed_point(float(s), sigma_b2)[1] for s in sigma_w2s])

    def critical_sigma_w2(self, sigma_b2: float, grid: np.ndarray = SIGMA_W2_GRID,
                          curve: np.ndarray | None = None) -> float | None:
        """The smallest sigma_w^2 in the grid's range where chi_1 at the fixed point
        crosses 1 continuously (the edge of chaos), or None. ``curve``: chi_1 on the grid,
        when already known. A crossing between grid points is located with scipy's
        brentq; one where chi_1 jumps over 1 (the fixed point switching from 0 to
        infinity, as for GELU at sigma_b = 0) is no critical point."""
        f = (self.chi1_curve(grid, sigma_b2) if curve is None else np.asarray(curve)) - 1.0

        def gap(s: float) -> float:
            return self.chi1_at_fixed_point(s, sigma_b2)[1] - 1.0

        for i in range(len(grid) - 1):
            if not (np.isfinite(f[i]) and np.isfinite(f[i + 1])):
                continue
            if f[i] == 0.0:
                return float(grid[i])
            if (f[i] > 0) != (f[i + 1] > 0):
                root = float(brentq(gap, grid[i], grid[i + 1], xtol=1e-13, rtol=4 * np.finfo(float).eps))
                if abs(gap(root)) <= CRITICAL_FTOL:
                    return root
        return None

    def trajectory(self, q0: float, sigma_w2: float, sigma_b2: float, depth: int) -> np.ndarray:
        """q_0 = q0, q_1, ..., q_depth: the variances a network of ``depth`` layers sees."""
        qs = [q0]
        for _ in range(depth):
            qs.append(self.variance_map(min(max(qs[-1], Q_MIN), Q_MAX), sigma_w2, sigma_b2))
            if not math.isfinite(qs[-1]):
                break
        return np.array(qs)

    def predicted_log_ratio(self, qs: np.ndarray, sigma_w2: float) -> float:
        """log(|dL/dh_0| / |dL/dh_L|) for a network whose layer l sees variance qs[l]:
        the sum over layers of log(chi_1(q_l)) / 2."""
        chis = np.array([self.chi1(q, sigma_w2) for q in qs[:-1]])
        with np.errstate(divide="ignore"):
            return float(0.5 * np.log(chis).sum())

    def log_ratio_spread(self, qs: np.ndarray, sigma_w2: float, sigma_b2: float, width: int) -> tuple[float, float]:
        """The standard deviation and the (downward) bias that finite width gives the
        measured log(|dL/dh_0| / |dL/dh_L|) of one input in a network whose layers see
        variances ``qs``, to first order in 1 / width.

        Backward: a layer multiplies |delta|^2 by |W^T u|^2 / |u|^2 (sigma_w^2 chi^2_N / N,
        relative variance 2 / N) and by the mean of phi'^2 over the N units (relative
        variance kappa / N, kappa = Var[phi'^2] / E[phi'^2]^2). Half the log of that adds
        (2 + kappa) / (4 N) to the variance of the log-ratio and as much to its bias
        (E[log(1 + e)] = -Var[e] / 2).
        Forward: the measured variance Q_l = |h_l|^2 / N strays from q_l: eta_l = log(Q_l /
        q_l) follows eta_{l+1} = s_l eta_l + xi_l, with s_l = d log V / d log q and xi_l the
        relative noise of |W a|^2 (2 / N), of the mean of phi^2 over units (kappa_2 / N)
        and of the biases, and every layer's log chi_1 moves by c_l eta_l, c_l = d log
        chi_1 / d log q. This matters where chi_1 depends on q and the variance does not
        return to a stable fixed point (softplus at Kaiming's init: q grows without bound)
        and vanishes for ReLU (c = 0). The weights are shared by a batch, so no batch
        averages it away."""
        n = len(qs) - 1
        q = np.clip(np.asarray(qs[:-1], dtype=np.float64), Q_MIN, Q_MAX)
        p2, dp2 = self.expect(self._phi2, q), self.expect(self._phi2, q, d_dq=True)
        d2, dd2 = self.expect(self._dphi2, q), self.expect(self._dphi2, q, d_dq=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            kappa = np.where(d2 > 0, self.expect(self._dphi2**2, q) / d2**2 - 1.0, 0.0)
            kappa2 = np.where(p2 > 0, self.expect(self._phi2**2, q) / p2**2 - 1.0, 0.0)
            v = sigma_w2 * p2 + sigma_b2
            s = np.where(v > 0, q * sigma_w2 * dp2 / v, 0.0)
            c = np.where(d2 > 0, q * dd2 / d2, 0.0)
            xi = np.where(v > 0, ((sigma_w2 * p2) ** 2 * (2.0 + kappa2) + 2.0 * sigma_b2**2) / (width * v**2), 0.0)
        backward = float(np.sum((2.0 + kappa) / (4.0 * width)))
        # Walking down from the top, g is the response of the log-ratio to eta_{k+1}:
        # R_l = c_l / 2 + s_l R_{l+1}, R_n = 0. The noise xi_k enters eta_{k+1}; the input's
        # own (2 / N) enters eta_0.
        forward = 0.0
        g = 0.0
        for k in range(n - 1, -2, -1):
            noise = xi[k] if k >= 0 else 2.0 / width
            forward += noise * g**2
            if k >= 0:
                g = 0.5 * c[k] + s[k] * g
        return math.sqrt(backward + forward), backward

    # -- self-normalisation --------------------------------------------------------------
    def mean_variance_map(self, nu: float = 1.0) -> dict[str, Any]:
        """Klambauer et al.'s map (mu, nu) -> (mean, variance) of phi(z) for
        z ~ N(mu * omega, nu * tau), at omega = 0, tau = 1 (normalised weights, as in the
        paper), with its Jacobian there. At omega = 0 the mean mu drops out, so the
        Jacobian's first column is 0."""
        mean = self._scalar(self.phi, nu)
        second = self._scalar(self._phi2, nu)
        d_mean = float(self.expect(self.phi, nu, d_dq=True)[0])
        d_second = float(self.expect(self._phi2, nu, d_dq=True)[0])
        jac = np.array([[0.0, d_mean], [0.0, d_second - 2 * mean * d_mean]])
        return {
            "mean": mean,
            "variance": second - mean**2,
            "jacobian": jac.tolist(),
            "spectral_norm": float(np.linalg.norm(jac, 2)),
        }
