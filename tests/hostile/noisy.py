"""A subject whose text is hostile: it prints a megabyte of terminal escapes per call
and fails with control characters and a lone surrogate in its message."""

import sys

import torch
from torch import nn


class Chatty(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sys.stdout.write("\x1b[2J\x1b[31mprogress\x07\r" * 50_000)
        print("\x1b]0;pwned\x07", file=sys.stderr)
        raise RuntimeError("bad \x1b[31minput\x00\x0b\x1b[0m at \ud800 \ufffe")
