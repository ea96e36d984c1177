"""The building blocks of report sections (rendered by ``templates/report.html.j2``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file of a results folder, or None when it is absent."""
    return json.loads(path.read_text()) if path.is_file() else None


def text(content: str) -> dict[str, Any]:
    """A paragraph."""
    return {"kind": "text", "text": content}


def table(content: dict, caption: str | None = None) -> dict[str, Any]:
    """A table (see :func:`sfckit.report.tables.display_table`); a table without rows
    becomes one line saying so, never headers over nothing."""
    if not content["rows"]:
        return text(f"{caption.rstrip('.') if caption else 'Table'}: none.")
    return {"kind": "table", "table": content, "caption": caption}


def figures(items: list[tuple[str, str]]) -> dict[str, Any]:
    """Figures: (data URI, caption) pairs (captions also go beside the figure files)."""
    from sfckit.report import figure_files

    for uri, caption in items:
        figure_files.caption(uri, caption)
    return {
        "kind": "figures",
        "figures": [{"uri": uri, "caption": caption} for uri, caption in items],
    }
