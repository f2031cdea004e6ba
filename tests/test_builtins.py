"""The gate must not cry wolf: every torch built-in activation module passes the whole
default battery (findings allowed)."""

from __future__ import annotations

from torch import nn

from verify.plugin import CheckRunner, parametrize_with_checks
from verify.subject import Subject

BUILTINS = [
    nn.ReLU(), nn.ReLU(inplace=True), nn.LeakyReLU(), nn.PReLU(num_parameters=8), nn.ELU(), nn.CELU(), nn.SELU(),
    nn.GELU(), nn.GELU(approximate="tanh"), nn.SiLU(), nn.Mish(), nn.Softplus(), nn.Hardswish(), nn.Hardsigmoid(),
    nn.Hardtanh(), nn.ReLU6(), nn.Tanh(), nn.Sigmoid(), nn.Softsign(), nn.Tanhshrink(), nn.LogSigmoid(),
]


@parametrize_with_checks(BUILTINS)
def test_torch_builtin(subject: Subject, check: CheckRunner) -> None:
    check(subject)
