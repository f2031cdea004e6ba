"""Verification harness for PyTorch activation functions."""

__version__ = "0.1.0"
