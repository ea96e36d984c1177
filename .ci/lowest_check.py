"""Fails (exit 1) when the demo's output shows a warning that sfckit did not raise itself.

Usage: ``python .ci/lowest_check.py OUTPUT_LOG ORIGINS_LOG``. A shown warning
(``sfckit: warning: MESSAGE``) is sfckit's own when ``.ci/warning_origins.py`` saw a
``warnings.warn`` call in sfckit's code with that message; any other (a library's, or one
raised in C, which leaves no record) is an error.
"""

import json
import sys
from pathlib import Path

PREFIX = "sfckit: warning: "


def main(output: str, origins: str) -> int:
    shown = {
        line[len(PREFIX) :].strip()
        for line in Path(output).read_text(errors="replace").splitlines()
        if line.startswith(PREFIX)
    }
    own = set()
    if Path(origins).is_file():
        for line in Path(origins).read_text().splitlines():
            record = json.loads(line)
            if record["sfckit"]:
                lines = record["message"].strip().splitlines()
                own.add(lines[0].strip() if lines else "")
    foreign = sorted(message for message in shown if message not in own)
    for message in sorted(shown - set(foreign)):
        print(f"sfckit's own warning (fine): {message[:160]}")
    for message in foreign:
        print(f"library warning: {message}", file=sys.stderr)
    if foreign:
        print(f"{len(foreign)} warning(s) from libraries at the lowest versions", file=sys.stderr)
        return 1
    print(f"no library warnings ({len(shown)} warning(s) shown, all sfckit's own)")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
