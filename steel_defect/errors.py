"""One exception type for problems the user can fix, and the wrapper that turns it into one line."""

from __future__ import annotations

import sys
from collections.abc import Callable


class UserError(Exception):
    """Bad input or params: reported as one line, never as a traceback."""


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's main(); a UserError exits 1 with a single readable line on stderr."""
    try:
        main()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted: no output was written", file=sys.stderr)
        sys.exit(130)
