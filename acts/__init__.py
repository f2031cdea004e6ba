"""Reference activation functions, each described by a declarative :class:`Activation`."""

from acts.registry import ENTRY_POINT_GROUP, all_activations, get, names, register
from acts.spec import Activation, Kind, Kink, Param, Properties, Smoothness, ThroughputBudget

__all__ = [
    "ENTRY_POINT_GROUP", "Activation", "Kind", "Kink", "Param", "Properties", "Smoothness", "ThroughputBudget",
    "all_activations", "get", "names", "register",
]
