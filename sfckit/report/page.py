"""The page around the sections: one self-contained HTML file (Jinja2 template).

All text from input files is escaped by Jinja2's autoescaping and the page loads nothing
from outside (images are data URIs; a Content-Security-Policy forbids any other source).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from sfckit.version import __version__


def render_page(
    *, title: str, results: Path, sections: list[dict[str, Any]], missing: list[str]
) -> str:
    """The report's HTML.

    Parameters
    ----------
    title : str
        The study's name.
    results : Path
        The results folder (named in the page's header).
    sections : list of dict
        ``id``, ``title`` and ``blocks`` (:mod:`sfckit.report.blocks`) per section.
    missing : list of str
        "Sections not shown" lines, each with its reason.

    Returns
    -------
    str
    """
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("sfckit.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    return environment.get_template("report.html.j2").render(
        title=title,
        version=__version__,
        results=str(results),
        sections=sections,
        missing=missing,
    )
