"""Installed (by a .pth file) into the lowest-versions CI environment only: records, in
every process, which module called ``warnings.warn`` with which message, so that
``.ci/lowest_check.py`` can tell sfckit's own warnings from a library's in the demo's output
(the message shown does not say who raised it: a library's warning is attributed to its
caller, often sfckit). Appends JSON lines to ``$SFCKIT_WARNING_ORIGINS``."""

import json
import os
import sys
import warnings

_real_warn = warnings.warn
_seen: set[tuple[str, bool]] = set()


def _text(message) -> str:
    return str(message.args[0]) if isinstance(message, Warning) and message.args else str(message)


def _recording_warn(message, category=None, stacklevel=1, source=None, **kwargs):
    log = os.environ.get("SFCKIT_WARNING_ORIGINS")
    if log:
        try:
            caller = sys._getframe(1).f_globals.get("__name__", "")
        except ValueError:
            caller = ""
        own = caller == "sfckit" or caller.startswith("sfckit.")
        key = (_text(message), own)
        if key not in _seen:
            _seen.add(key)
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"message": key[0], "sfckit": own, "caller": caller}))
                handle.write("\n")
    return _real_warn(message, category, stacklevel + 1, source, **kwargs)


warnings.warn = _recording_warn
