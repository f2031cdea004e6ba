"""`propagation`: textbook mean-field results come out of the analysis; a wrong declared
gain and a backward that disagrees with the spec's formula fail; torch's own activations
pass with their numbers."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest
import torch
import zoo
from scipy import integrate
from torch import Tensor, nn

import acts
from acts import Activation, Kind, Properties
from verify import tolerances as tol
from verify.analysis.meanfield import Q_MAX, Q_MIN, MeanField
from verify.checks.propagation import experiment_bytes, sized
from verify.results import Status


def with_gain(name: str, gain: float) -> Activation:
    spec = acts.get(name)
    return dataclasses.replace(spec, name=f"{name}_gain", aliases=(),
                               properties=dataclasses.replace(spec.properties, gain=gain))


def steep_tanh(x: Tensor) -> Tensor:
    """Planted bug: tanh whose gradient is 5% too steep, 1.05 (1 - y^2), from a
    straight-through blend with the wrong weight. Its forward is exactly tanh; through a
    deep stack the gradient is off by a factor 1.05 a layer."""
    y = torch.tanh(x)
    return y + 0.05 * (y - y.detach())


class _Module(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return steep_tanh(x)


STEEP_TANH = Activation(
    name="steep_tanh", kind=Kind.FORMULA, formula="tanh(x)", source="test",
    module=lambda **kw: _Module(), functional=steep_tanh, reference=torch.tanh,
    properties=Properties(limits=(-1.0, 1.0), bounds=(-1.0, 1.0), monotonic=True, parity="odd"),
)


# -- planted bugs ---------------------------------------------------------------------
def test_wrong_declared_gain_fails(run: Any) -> None:
    """ReLU declaring LeCun's gain 1 instead of He's sqrt 2: chi_1 = 1/2, gradients
    shrink by 2^-25 over 50 layers."""
    r = run("propagation", with_gain("relu", 1.0))
    assert r.status is Status.FAIL, r.summary
    assert "declares gain 1" in r.summary
    assert r.details["chi1_declared_gain"] == pytest.approx(0.5, abs=1e-12)
    assert r.details["recommended_gain"] == pytest.approx(math.sqrt(2), abs=1e-6)


def test_backward_disagreeing_with_the_formula_fails_the_depth_experiment(run: Any) -> None:
    r = run("propagation", STEEP_TANH)
    assert r.status is Status.FAIL, r.summary
    d = r.details
    excess = d["empirical_log_ratio_untied"] - d["predicted_log_ratio"]
    # 50 layers of a backward 5% too steep: 50 log(1.05) = 2.44 above the prediction.
    assert excess == pytest.approx(50 * math.log(1.05), abs=d["log_ratio_tolerance"] / 2)
    assert excess > d["log_ratio_tolerance"]


# -- textbook results -------------------------------------------------------------------
def test_relu_edge_of_chaos_is_sigma_w2_2(run: Any) -> None:
    r = run("propagation", acts.get("relu"))
    assert r.status is Status.PASS, r.summary
    d = r.details
    assert d["critical_sigma_w2"] == pytest.approx(2.0, abs=1e-6)
    # Homogeneous: the bias does not move it.
    assert all(c == pytest.approx(2.0, abs=1e-6) for _, c in d["critical_by_sigma_b2"])
    assert d["chi1_kaiming"] == pytest.approx(1.0, abs=1e-12)
    assert d["recommended_gain"] == pytest.approx(math.sqrt(2.0), abs=1e-6)
    assert d["torch_gain"] == pytest.approx(math.sqrt(2.0)) and d["declared_gain"] == pytest.approx(math.sqrt(2.0))
    assert abs(d["empirical_log_ratio"] - d["predicted_log_ratio"]) <= d["log_ratio_tolerance"]


def test_tanh_edge_of_chaos_is_sigma_w2_1(run: Any) -> None:
    r = run("propagation", nn.Tanh())
    assert r.status is Status.PASS, r.summary
    d = r.details
    assert d["critical_sigma_w2"] == pytest.approx(1.0, abs=1e-6)
    # With a bias the edge moves up (Poole et al. 2016, Fig. 2).
    crit = dict((b, c) for b, c in d["critical_by_sigma_b2"])
    assert 1.0 < crit[0.01] < crit[0.05] < crit[0.1] < crit[0.5]
    # At Kaiming's init tanh is chaotic, and torch's 5/3 even more: a finding.
    assert 1.05 < d["chi1_kaiming"] < 1.15 and d["q_star"] == pytest.approx(0.618, abs=1e-3)
    assert d["torch_gain"] == pytest.approx(5 / 3)
    assert any("calculate_gain('tanh')" in f for f in r.findings)


def test_selu_published_constants_make_0_1_a_fixed_point(run: Any) -> None:
    r = run("propagation", acts.get("selu"))
    assert r.status is Status.PASS, r.summary
    sn = r.details["self_normalising"]
    assert abs(sn["mean"]) < 1e-12 and abs(sn["variance"] - 1.0) < 1e-12
    assert sn["fixed_point"] and sn["attracting"]
    # Klambauer et al. 2017 (omega = 0, tau = 1): J(0, 1) = [[0, 0.088834], [0, 0.782648]].
    assert np.allclose(sn["jacobian"], [[0.0, 0.088834], [0.0, 0.782648]], atol=1e-6)
    # torch's gain 3/4 sits just on the chaotic side of the edge: chi_1 = 1.0037.
    assert r.details["chi1_declared_gain"] == pytest.approx(1.00367, abs=1e-5)
    # The edge of chaos at sigma_b = 0 is where q* -> 0: 2 / (scale^2 (1 + alpha^2)).
    from acts.selu import ALPHA, SCALE
    assert r.details["critical_sigma_w2"] == pytest.approx(2 / (SCALE**2 * (1 + ALPHA**2)), rel=1e-9)


def test_selu_with_rounded_constants_is_only_near_the_fixed_point(run: Any) -> None:
    def selu_rounded(x: Tensor) -> Tensor:
        return 1.05 * torch.where(x > 0, x, 1.67 * torch.expm1(x.clamp(max=0)))

    r = run("propagation", selu_rounded, name="selu_rounded")
    assert r.status is Status.PASS, r.summary
    assert not r.details["self_normalising"]["fixed_point"]
    assert any("near but not at the self-normalising fixed point" in f for f in r.findings)


def test_leaky_relu_recommended_gain_is_torchs(run: Any) -> None:
    r = run("propagation", nn.LeakyReLU(0.2))
    assert r.status is Status.PASS, r.summary
    assert r.details["recommended_gain"] == pytest.approx(math.sqrt(2 / (1 + 0.2**2)), abs=1e-6)
    assert r.details["torch_gain"] == pytest.approx(math.sqrt(2 / (1 + 0.2**2)))


def test_gelu_has_no_edge_of_chaos_without_bias(run: Any) -> None:
    """At sigma_b = 0 GELU's fixed point jumps from q* = 0 (chi_1 = sigma_w^2 / 4) to
    q* = inf (chi_1 ~ sigma_w^2 / 2) without chi_1 passing through 1; a bias makes one."""
    r = run("propagation", acts.get("gelu"))
    assert r.status is Status.PASS, r.summary
    d = r.details
    assert d["critical_sigma_w2"] is None
    assert d["recommended_gain_rule"].startswith("unit variance")
    assert d["q_star"] == 0.0 and d["chi1_kaiming"] == pytest.approx(0.5, abs=1e-12)
    crit = dict((b, c) for b, c in d["critical_by_sigma_b2"])
    assert crit[0.5] is not None and 1.9 < crit[0.5] < 2.0


def test_per_channel_activation_is_analysed_on_channel_0(run: Any) -> None:
    r = run("propagation", acts.get("bipolar_relu"))
    assert r.status is Status.PASS, r.summary
    assert r.details["channel"] == 0 and "channel_note" in r.details
    assert r.details["critical_sigma_w2"] == pytest.approx(2.0, abs=1e-6)


# -- the quadrature itself -------------------------------------------------------------
def test_quadrature_is_exact_across_variances() -> None:
    relu = MeanField.of(lambda x: (np.maximum(x, 0.0), (x > 0).astype(float)), kinks=[0.0])
    relu6 = MeanField.of(lambda x: (np.clip(x, 0.0, 6.0), ((x > 0) & (x < 6)).astype(float)), kinks=[0.0, 6.0])
    for q in np.logspace(math.log10(Q_MIN), math.log10(Q_MAX), 15):
        assert relu.expect(relu.dphi**2, q)[0] == pytest.approx(0.5, abs=1e-14)
        assert relu.expect(relu.phi**2, q)[0] == pytest.approx(q / 2, rel=1e-14)
        assert relu6.expect(relu6.dphi**2, q)[0] == pytest.approx(0.5 * math.erf(6 / math.sqrt(2 * q)), abs=1e-14)
    tanh = MeanField.of(lambda x: (np.tanh(x), 1.0 - np.tanh(x) ** 2))
    for q in (1e-4, 0.3, 1.0, 10.0, 1e3):
        exact = integrate.quad(lambda x, q=q: np.tanh(x) ** 2 * np.exp(-x * x / (2 * q)) / math.sqrt(2 * math.pi * q),
                               -np.inf, np.inf, epsabs=0, epsrel=1e-13)[0]
        assert tanh.expect(tanh.phi**2, q)[0] == pytest.approx(exact, rel=1e-12)


def test_dead_activation_is_skipped_not_an_error(run: Any) -> None:
    r = run("propagation", zoo.ZeroActivation)
    assert r.status is Status.SKIP and "identically zero" in r.summary, r.summary


def test_channel_bound_module_with_random_parameters_passes(run: Any) -> None:
    """ACON-C's p1 and p2 are drawn at random per channel: the analysis and the MLP must
    see the same instance and the same channel, or the backward is blamed for the
    harness's own mismatch."""
    r = run("propagation", zoo.acon_c)
    assert r.status is Status.PASS, r.summary
    assert "channel 0" in r.details["channel_note"]


def test_overflow_inside_the_activation_is_named_not_blamed_on_the_backward(run: Any) -> None:
    r = run("propagation", zoo.SwishExpRatio)
    assert r.status is Status.SKIP, r.summary
    assert "exp gave inf, an overflow inside the activation" in r.summary
    assert 709 < r.details["nonfinite_x"] < 1000


class GaussianKernels(nn.Module):
    """Costly but correct: a kernel-expansion activation (a sum of K fixed Gaussian
    bumps), which builds a (..., K) tensor for every input element and saves it twice
    for the backward."""

    def __init__(self, k: int = 1000) -> None:
        super().__init__()
        self.register_buffer("centers", torch.linspace(-5, 5, k))

    def forward(self, x: Tensor) -> Tensor:
        return torch.exp(-(x[..., None] - self.centers) ** 2).sum(-1) / 10


def test_a_costly_activation_gets_a_depth_experiment_sized_to_the_budget(run: Any) -> None:
    r = run("propagation", GaussianKernels())
    assert r.status is Status.PASS, r.summary
    d = r.details
    assert d["held_bytes_per_unit"] >= 4 * 1000  # at least one (..., K) float32 tensor kept per unit
    assert (d["batch"], d["depth"]) < (tol.PROPAGATION_BATCH, tol.PROPAGATION_DEPTH)
    assert experiment_bytes(d["held_bytes_per_unit"], d["peak_bytes_per_unit"], d["width"], d["batch"],
                            d["depth"]) <= tol.PROPAGATION_MEMORY_BYTES
    assert any("past its 512 MiB budget: cut to" in f for f in r.findings), r.findings
    assert "empirical_log_ratio" in d  # the experiment ran, smaller


def test_sizing_cuts_the_batch_first_then_the_depth_and_then_gives_up() -> None:
    width, budget = 256, tol.PROPAGATION_MEMORY_BYTES
    assert sized(10.0, 10.0, width, 256, 50) == (256, 50)  # fits as it is
    batch, depth = sized(2000.0, 3000.0, width, 256, 50)
    assert tol.PROPAGATION_MIN_BATCH <= batch < 256 and depth == 50
    assert experiment_bytes(2000.0, 3000.0, width, batch, depth) <= budget
    batch, depth = sized(8000.0, 12000.0, width, 256, 50)
    assert batch == tol.PROPAGATION_MIN_BATCH and tol.PROPAGATION_MIN_DEPTH <= depth < 50
    assert experiment_bytes(8000.0, 12000.0, width, batch, depth) <= budget
    assert sized(1e6, 1e6, width, 256, 50)[1] < tol.PROPAGATION_MIN_DEPTH
