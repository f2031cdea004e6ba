"""``tox -e cuda``'s first step: can this interpreter run the test suite on a GPU?

The cuda environment installs nothing (it works offline against the torch a GPU machine
already has), so the interpreter tox was started from may have no torch, or no GPU: each
is said in one line and exit 1, before pytest would fail on it less clearly. Nothing is
imported at module level: the point is to run where the imports may fail.
"""

from __future__ import annotations

import importlib.util
import sys

# What the test suite imports besides torch (pyproject.toml's dependencies and dev extras).
NEEDED = ("pytest", "xdist", "hypothesis", "numpy", "scipy")


def main() -> int:
    if importlib.util.find_spec("torch") is None:
        # tox's environment sees the site-packages of the Python it was made from.
        print(f"tox -e cuda: torch is not installed in this interpreter (the Python at {sys.base_prefix}); "
              "install a CUDA build of torch there", file=sys.stderr)
        return 1
    missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        print(f"tox -e cuda: {', '.join(missing)} not installed in this interpreter (the Python at {sys.base_prefix}); "
              "install the package's dev extras there", file=sys.stderr)
        return 1
    import torch

    if not torch.cuda.is_available():
        print("tox -e cuda: no CUDA device is visible", file=sys.stderr)
        return 1
    print(f"tox -e cuda: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
