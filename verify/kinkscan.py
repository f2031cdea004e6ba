"""A quick scan for kinks of a subject that declares none.

Second differences of f on a fine float64 grid are O(f'' h^2) where f is smooth and
O(jump in f' * h) at a kink; a point whose second difference stands far above those
around it is taken for a kink. This serves to keep gradient checks' sample points
away from kinks; the ``kinks`` check localises and judges them properly.
"""

from __future__ import annotations

import numpy as np
import torch

from verify.subject import Subject

SCAN_RANGE = 10.0
SCAN_STEP = 1e-3
# A second difference this many times its neighbourhood's median marks a kink.
KINK_RATIO = 50.0
# Below this second difference (a slope jump of about 1e-5) nothing is a kink.
KINK_FLOOR = 1e-8


def grid_values(subject: Subject, values: torch.Tensor, params: dict[str, float] | None = None,
                derivative: bool = False) -> np.ndarray:
    """f (or, with ``derivative``, autograd's f') at every value, for each channel:
    an array of shape (channels, len(values))."""
    fn = subject.instance(torch.float64, "cpu", params)
    base = subject.base_shape
    n = values.numel()
    if len(base) >= 3:
        c = base[1]
        x = values.reshape(1, 1, n).expand(1, c, n).contiguous()
        if len(base) > 3:
            x = x.reshape((1, c, n) + (1,) * (len(base) - 3))
    elif len(base) == 2:
        c = base[1]
        x = values.reshape(n, 1).expand(n, c).T.contiguous().T
    else:
        c, x = 1, values.clone()
    if derivative:
        x = x.detach().requires_grad_()
        (y,) = torch.autograd.grad(fn(x).sum(), x)
    else:
        with torch.no_grad():
            y = fn(x)
    y = y.T if len(base) == 2 else y
    return y.detach().reshape(c, n).cpu().numpy()


def scan_kinks(subject: Subject, lo: float = -SCAN_RANGE, hi: float = SCAN_RANGE, step: float = SCAN_STEP,
               params: dict[str, float] | None = None, derivative: bool = False) -> list[float]:
    """Points where f (or f', with ``derivative``: where f'' jumps) has a kink."""
    try:
        xs = torch.arange(lo, hi + step / 2, step, dtype=torch.float64)
        ys = grid_values(subject, xs, params, derivative)
    except Exception:
        return []
    found: set[float] = set()
    for row in ys:
        d2 = np.abs(row[2:] - 2 * row[1:-1] + row[:-2])
        d2 = np.where(np.isfinite(d2), d2, 0.0)
        # A kink between grid points spreads over two neighbouring second differences.
        pair = d2[:-1] + d2[1:]
        window = 25
        padded = np.pad(pair, window, mode="edge")
        shifted = np.lib.stride_tricks.sliding_window_view(padded, 2 * window + 1)
        background = np.median(shifted, axis=1)
        hits = np.flatnonzero((pair > KINK_FLOOR) & (pair > KINK_RATIO * (background + 1e-300)))
        for group in np.split(hits, np.flatnonzero(np.diff(hits) > 3) + 1):
            if group.size:
                # The centre of mass of the group: a kink on a grid point lights two
                # equal pairs either side of it.
                centres = xs[group + 1].numpy() + step / 2
                found.add(round(float(np.average(centres, weights=pair[group])), 6))
    return sorted(found)


def curve(subject: Subject, points: int = 241) -> dict[str, object]:
    """f and f' on a range that shows the kinks, for the report's plot: x, then one
    list per channel that differs from the first (alternating activations show two)."""
    kinks = subject.kinks()
    finite = [abs(k) for k in kinks if np.isfinite(k)]
    half = max(6.0, 1.5 * max(finite, default=0.0))
    lo, hi = subject.domain()
    xs = torch.linspace(max(-half, lo + 1e-3), min(half, hi - 1e-3), points, dtype=torch.float64)
    f = grid_values(subject, xs)
    df = grid_values(subject, xs, derivative=True)
    keep = [0, *[c for c in range(1, f.shape[0]) if not np.allclose(f[c], f[0], equal_nan=True)][:1]]
    return {
        "x": xs.tolist(),
        "f": [f[c].tolist() for c in keep],
        "df": [df[c].tolist() for c in keep],
        "channels": keep,
        "kinks": kinks,
    }
