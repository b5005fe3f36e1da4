"""One exception type for problems the user can fix, and the wrapper that turns it into one line."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable


class UserError(Exception):
    """Bad input or params: reported as one line, never as a traceback."""


def _interrupt(signum: int, _frame) -> None:
    # SIGTERM (what `kill`, CI runners and DVC's queue send) would otherwise end Python without
    # running `finally` blocks; as KeyboardInterrupt it unwinds, so temporary outputs are removed.
    raise KeyboardInterrupt(signal.Signals(signum).name)


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's main(); a UserError exits 1 with a single readable line on stderr.

    Ctrl-C and SIGTERM exit 130/143 after every temporary output has been removed (outputs are
    renamed into place only when complete, see atomic.py); a SIGKILL cannot be caught, and its
    leftovers are removed by the next run.
    """
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        main()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt as err:
        print("interrupted: no output was written", file=sys.stderr)
        sys.exit(143 if str(err) == "SIGTERM" else 130)
    finally:
        signal.signal(signal.SIGTERM, previous)  # a caller that runs stages in-process (the tests) keeps its own handler
