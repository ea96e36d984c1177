"""The per-participant cache that lets an interrupted run resume without recomputing the
participants it finished: one entry per participant in a step's cache folder, named from the
participant's id, stored under a key of everything the result depends on and read back only
under that key.

Used by extraction (an ``.npz`` entry of regional features) and by ``tms-target`` (a JSON
entry of the participant's target). Entries are written atomically but not fsynced: after a
machine crash a damaged entry fails to parse (the zip CRC of an ``.npz``, the JSON syntax)
and the participant is recomputed, so durability would only cost time.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sfckit.io.outputs import atomic_write

CACHE_FOLDER = ".sfckit-cache"  # inside a step's output folder; hidden from result listings


def entry_name(participant_id: str, suffix: str = ".npz") -> str:
    """A file-system-safe, collision-free name for a participant's entry: the id with
    unsafe characters replaced (at most 60 of them), then a hash of the exact id."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", participant_id)[:60]
    return f"{stem}-{hashlib.sha1(participant_id.encode()).hexdigest()[:10]}{suffix}"


def file_stamp(path: str | Path) -> list[int]:
    """Size and modification time of an input file: what a key records of it (reading the
    content of every image at each run would cost as much as much of the computation).

    Raises
    ------
    OSError
        When the file is not there.
    """
    stat = Path(path).stat()
    return [stat.st_size, stat.st_mtime_ns]


def remove_stale(folder: Path) -> None:
    """Remove the temporary files a killed run left in a cache folder."""
    for stale in folder.glob(".*.tmp"):
        stale.unlink(missing_ok=True)


def store(path: str | Path, payload: bytes | memoryview) -> None:
    """Write one entry atomically (not fsynced: see the module's note)."""
    with atomic_write(path, "wb", durable=False) as handle:
        handle.write(payload)


def store_json(path: str | Path, key: str, result: Any) -> None:
    """Store ``result`` (JSON-serialisable) under ``key``."""
    store(path, json.dumps({"key": key, "result": result}).encode("utf-8"))


def load_json(path: str | Path, key: str) -> Any | None:
    """The result stored at ``path`` under ``key``; None when the entry is missing, was
    stored under another key (other inputs or settings), or is damaged."""
    try:
        entry = json.loads(Path(path).read_text(encoding="utf-8"))
        return entry["result"] if entry["key"] == key else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def stamps(paths: Iterable[str | Path | None]) -> dict[str, list[int] | str]:
    """:func:`file_stamp` of each given path ("missing" for one that is not there, which
    the step's loader reports in one line)."""
    found: dict[str, list[int] | str] = {}
    for path in paths:
        if path:
            found[str(path)] = file_stamp(path) if Path(path).is_file() else "missing"
    return found
