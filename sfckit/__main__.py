"""The ``sfckit`` command (and ``python -m sfckit``).

A separate, almost empty entry module, so that a Ctrl-C while the command line and the
scientific libraries are still being imported also ends in one line and exit status 130
instead of a traceback.
"""

import sys

from sfckit.errors import interrupted_status


def main() -> int:
    """Import and run the command line; returns the exit status."""
    try:
        from sfckit.cli import main as command_line

        return command_line()
    except (KeyboardInterrupt, ImportError) as error:
        return interrupted_status(error)


if __name__ == "__main__":
    sys.exit(main())
