"""The ``deltaprop`` command's entry point.

Importing :mod:`deltaprop` (NumPy, Matplotlib, the CLI's modules) takes a fraction of a
second, and a Ctrl-C in that time would otherwise print Python's traceback of the import.
This module imports nothing heavy itself: it turns such an interrupt into the CLI's own
one line (``interrupted``, exit 130) and then hands over to :func:`deltaprop.cli.main`.
"""

import sys


def main() -> int:
    """Import the CLI and run it; an interrupt during the import is one line and exit 130."""
    try:
        from deltaprop.cli import run as run_cli
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    return run_cli()


if __name__ == "__main__":
    sys.exit(main())
