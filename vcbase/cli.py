"""What the three command-line programs share: how a bad input ends the process."""

from __future__ import annotations

import sys
from typing import NoReturn

# Exit codes: 1 for a failure at run time (a peer unreachable, a call refused), 2 for bad input
# (unknown flag, bad config), as click/typer and most Unix tools do.
EXIT_FAILURE = 1
EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_FAILURE, program: str = "") -> NoReturn:
    """Print a one-line (or one-per-problem) error to stderr and exit; never a traceback."""
    prefix = f"{program}: " if program else ""
    print(f"{prefix}error: {message}", file=sys.stderr)
    raise SystemExit(code)
