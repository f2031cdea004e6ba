"""A script-style module: importing it runs its main guard the wrong way round."""

import sys

import torch

if __name__ != "__main__":
    sys.exit("run this file as a script")


def act(x: torch.Tensor) -> torch.Tensor:
    return torch.tanh(x)
