"""``python -m verify`` and the ``verify`` script: the command line, ended at once."""

import atexit
import os
import sys


def main() -> int:
    """:func:`verify.cli.main`, and then the process ends as soon as every exit handler
    has run: the interpreter's teardown of torch, sympy and scipy (a sixth of a second)
    frees nothing a finished run needs."""
    code: int | None = None

    def leave() -> None:
        if code is not None:  # not after a crash: its traceback goes the usual way
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
            os._exit(code)

    # Registered before torch is imported, so that it runs after every other handler.
    atexit.register(leave)
    from verify.cli import main as cli_main

    code = cli_main()
    return code


if __name__ == "__main__":
    sys.exit(main())
