"""A machine reader of the text sfckit writes: ``methods.md``, ``results.md``, the
report's visible text and the text inside its figures (``figures/*.svg``, whose text is
kept as text), checked for what a journal's copy editor would send back.

Each problem has a kind (:data:`KINDS`), the file it was found in and the offending excerpt.
Text checks (on every document): unrendered templates (``{apa.number(x)}``), scientific
notation, p values with a leading zero (APA: ``p = .91``, never ``p = 0.91``), numbers of
1000 or more without thousands separators (years and identifiers excepted), "(s)" plurals,
raw snake_case names, "10 of these 10" where "all 10" is meant and zeros with a minus sign
(``-0.00``); in prose (the Markdown files, the page's paragraphs and captions) also
sentences that begin with a numeral (APA spells them out or rewords). Run checks (on the results
folder): the Methods omitting a setting an output's provenance (``dataset_description.json``)
records, and the TRIPOD+AI checklist citing a features file the classifier did not read.

``python -m sfckit.report.lint RESULTS`` prints the problems (exit status 1 if any).
"""

from __future__ import annotations

import html
import json
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KINDS = {
    "template": "unrendered template",
    "scientific": "scientific notation",
    "p-style": "p value with a leading zero",
    "separator": "number of 1000 or more without thousands separators",
    "plural": '"(s)" plural',
    "snake-case": "raw snake_case name",
    "opening-numeral": "sentence beginning with a numeral",
    "negative-zero": "a zero printed with a minus sign",
    "all-of-all": '"k of k" where "all k" is meant',
    "setting": "Methods omit a recorded setting",
    "citation": "checklist cites a file the model did not read",
}

_TEMPLATE = re.compile(r"\{\s*[A-Za-z_][\w]*\s*(?:[.\[(:!][^{}]*)?\}")
_SCIENTIFIC = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:[eE][+-]?\d+|\s*[×x]\s*10\^?[-−]?\d+)(?!\w)")
_P_LEADING_ZERO = re.compile(
    r"(?<![\w-])(?:p|q|α|alpha|FWE|FDR)(?:_\w+)?\s*(?:=|<|>|≤|≥|<=|>=)\s*[-−]?0\.\d+"
)
_BARE_NUMBER = re.compile(r"(?<![\w.,/#:~+-])[-−]?(\d{4,})(?![\w/]|[.,:-]\w)")
_PLURAL = re.compile(r"\w\((?:s|es)\)")
_SNAKE = re.compile(r"(?<![\w./\\-])([A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+)(?![\w/\\]|\.\w)")
# statistic subscripts written as text (p_FDR, p_Holm) are the house style, not raw names
_SUBSCRIPT = re.compile(r"^(?:p|q|d|r|R|z|t|F|AUC|FWE|FDR)_[A-Za-z0-9]+$")
_YEARS = range(1800, 2101)
# APA 7 (6.32): a number that begins a sentence is spelled out or the sentence reworded;
# "Fig. 2", "et al. 2026", "No. 3" and list markers ("1. ") are not sentence starts
_OPENING_NUMERAL = re.compile(r"(?m)(?:^[ \t]*|(?<=[.!?])[ \t]+)([-−]?\d+(?:[,.]\d+)*)(?![.)]\s)")
_ABBREVIATION = re.compile(r"(?:\b(?:al|Fig|fig|No|no|vs|Eq|eq|ca|approx|e\.g|i\.e)\.\s*)$")
_NEGATIVE_ZERO = re.compile(r"(?<![\w.])[-−](?:0*\.0+|0)(?![\d.])")
_ALL_OF_ALL = re.compile(
    r"\b(\d[\d,]*) of (?:(?:the|these|its|their)\s+)?(?:[\w’'-]+\s+){0,2}?\1\b(?![.,]\d)"
)


@dataclass(frozen=True)
class Problem:
    """One thing a copy editor would send back."""

    kind: str
    where: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.where}: {KINDS[self.kind]}: {self.excerpt!r}"


def visible_text(page: str) -> str:
    """The text a reader of the HTML page sees: scripts, styles, images' data, the
    references list and the tags removed, entities decoded, one line per block."""
    page = re.sub(r"(?is)<(script|style|head)\b.*?</\1>", " ", page)
    page = re.sub(r'(?is)(<section id="methods">.*?)<ul>.*?</ul>', r"\1", page)
    page = re.sub(r"(?is)<(?:p|li|tr|h\d|figcaption|div|section|td|th)\b[^>]*>", "\n", page)
    page = re.sub(r"(?s)<[^>]+>", " ", page)
    return html.unescape(page)


def page_prose(page: str) -> str:
    """The running prose of the HTML page: its paragraphs and figure captions, one per
    line (tables, headings and lists left out)."""
    page = re.sub(r"(?is)<(script|style|head)\b.*?</\1>", " ", page)
    blocks = re.findall(r"(?is)<(p|figcaption)\b[^>]*>(.*?)</\1>", page)
    return "\n".join(html.unescape(re.sub(r"(?s)<[^>]+>", " ", body)).strip() for _, body in blocks)


def figure_text(svg: str) -> str:
    """The text drawn in an SVG figure written with its text as text (one line per text
    element: titles, axis labels, tick labels, legends, notes)."""
    lines = re.findall(r"(?s)<text\b[^>]*>(.*?)</text>", svg)
    return "\n".join(html.unescape(re.sub(r"(?s)<[^>]+>", "", line)) for line in lines)


def _excerpt(text: str, match: re.Match[str], width: int = 30) -> str:
    start, end = match.span()
    return text[max(0, start - width) : end + width].replace("\n", " ").strip()


def lint_text(text: str, where: str, *, prose: bool = True) -> list[Problem]:
    """The text checks on one document (markdown or visible page text).

    Parameters
    ----------
    text : str
        The document.
    where : str
        Its name in the problems.
    prose : bool
        Whether the text is running prose (``methods.md``, ``results.md``), where sentences
        must not begin with a numeral; a page's or figure's text has table cells and tick
        labels that begin with numbers.

    Returns
    -------
    list of Problem
    """
    problems: list[Problem] = []

    def add(kind: str, pattern: re.Pattern[str], keep: Callable[[re.Match[str]], bool]) -> None:
        for match in pattern.finditer(text):
            if keep(match):
                problems.append(Problem(kind, where, _excerpt(text, match)))

    add("template", _TEMPLATE, lambda m: True)
    add("scientific", _SCIENTIFIC, lambda m: True)
    add("p-style", _P_LEADING_ZERO, lambda m: True)
    add("separator", _BARE_NUMBER, lambda m: int(m.group(1)) not in _YEARS)
    add("plural", _PLURAL, lambda m: True)
    add("snake-case", _SNAKE, lambda m: not _SUBSCRIPT.match(m.group(1)))
    add("all-of-all", _ALL_OF_ALL, lambda m: True)
    add("negative-zero", _NEGATIVE_ZERO, lambda m: True)
    return problems + (opening_numerals(text, where) if prose else [])


def opening_numerals(text: str, where: str) -> list[Problem]:
    """Sentences of running prose that begin with a numeral (APA 7, 6.32: spell it out or
    reword)."""
    return [
        Problem("opening-numeral", where, _excerpt(text, match))
        for match in _OPENING_NUMERAL.finditer(text)
        if not _ABBREVIATION.search(text[max(0, match.start(1) - 12) : match.start(1)])
    ]


def _provenance(folder: Path) -> dict[str, dict[str, Any]]:
    """Each output folder's provenance (``GeneratedBy[0]``), by folder relative to the
    results folder."""
    records = {}
    for path in sorted(folder.rglob("dataset_description.json")):
        if ".sfckit" in path.parts:
            continue
        try:
            description = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        generated = (description.get("GeneratedBy") or [{}])[0]
        record = dict(generated)
        record["InputChecksums"] = description.get("InputChecksums", {})
        qc = path.parent / "qc.tsv"
        if qc.is_file():
            import pandas as pd

            table = pd.read_csv(qc, sep="\t")
            if "n_non_steady_state" in table.columns:
                record["NonSteadyVolumes"] = int(table["n_non_steady_state"].fillna(0).sum())
        records[path.parent.relative_to(folder).as_posix()] = record
    return records


def _off(value: Any) -> bool:
    return value in (None, "none", "None", False, 0, "", [], {})


# (step, what the provenance records, is it on?, words one of which the Methods must use)
_SETTINGS: list[tuple[str, str, Callable[[dict[str, Any]], bool], tuple[str, ...]]] = [
    ("extract", "denoising", lambda r: not _off(r.get("Denoising")), ("nuisance regression",)),
    ("extract", "censoring", lambda r: not _off(r.get("Censoring")), ("censor", "scrub")),
    (
        "extract",
        "non-steady-state volumes",
        lambda r: bool(r.get("NonSteadyVolumes")),
        ("non-steady",),
    ),
    (
        "extract",
        "QC exclusions",
        lambda r: not _off(r.get("QualityExclusion")),
        ("quality-control", "quality control"),
    ),
    (
        "extract",
        "where mean FD came from",
        lambda r: "mean_fd" in str(r.get("QualityExclusion")) and isinstance(r.get("MeanFD"), dict),
        ("framewise displacement was",),
    ),
    ("extract", "resampling", lambda r: not _off(r.get("Resampling")), ("resampl",)),
    (
        "extract",
        "gray-matter probability map",
        lambda r: any("prob" in str(k).lower() for k in (r.get("GrayMatterMeasure") or {})),
        ("probabilit",),
    ),
]


def lint_methods(methods: str, records: dict[str, dict[str, Any]]) -> list[Problem]:
    """The Methods against each output's recorded settings (extraction's denoising,
    censoring, non-steady-state volumes, QC exclusions and where a rule's mean FD came from,
    resampling, GM measure; the classifier's model)."""
    from sfckit.report import apa

    lower = methods.lower()
    problems = []
    for folder, record in records.items():
        step = str(record.get("Description", "")).removeprefix("sfckit ").strip()
        for owner, setting, on, words in _SETTINGS:
            if step == owner and on(record) and not any(w in lower for w in words):
                problems.append(Problem("setting", "methods.md", f"{folder}: {setting}"))
        model = (record.get("Parameters") or {}).get("model")
        if step == "classify" and model:
            name = apa.model_name(model).lower()
            if name not in lower:
                problems.append(Problem("setting", "methods.md", f"{folder}: model {name}"))
    return problems


def lint_citations(checklist: Any, records: dict[str, dict[str, Any]]) -> list[Problem]:
    """Checklist rows citing ``features/<atlas>/`` the classifier did not read (its
    provenance's input checksums name the features file it read)."""
    read = set()
    for folder, record in records.items():
        if folder.startswith("classify/"):
            for path in record.get("InputChecksums", {}):
                match = re.search(r"(features/[^/]+)/", Path(path).as_posix())
                if match:
                    read.add(match.group(1))
    if not read:
        return []
    problems = []
    for row in checklist.itertuples():
        for cited in re.findall(r"(features/[^/\s:]+)/", str(row.evidence)):
            if cited not in read:
                problems.append(Problem("citation", "tripod_ai.tsv", f"item {row.item}: {cited}/"))
    return problems


def lint_results(folder: str | Path) -> list[Problem]:
    """Every check on a results folder (its ``report.html``, ``methods.md``, ``results.md``,
    the figures' text, ``tripod_ai.tsv`` and the output folders' provenance).

    Parameters
    ----------
    folder : str or Path
        A results folder with a report (of ``sfckit run`` or ``sfckit demo``).

    Returns
    -------
    list of Problem
    """
    import pandas as pd

    folder = Path(folder)
    problems: list[Problem] = []
    documents = {"methods.md": "", "results.md": ""}
    for name in documents:
        path = folder / name
        if path.is_file():
            text = path.read_text()
            documents[name] = text
            body = text.split("\n## References\n")[0]
            problems += lint_text(body, name)
    page = folder / "report.html"
    if page.is_file():
        text = page.read_text()
        problems += lint_text(visible_text(text), "report.html", prose=False)
        problems += opening_numerals(page_prose(text), "report.html")
    for figure in sorted(folder.rglob("figures/*.svg")):
        where = figure.relative_to(folder).as_posix()
        problems += lint_text(figure_text(figure.read_text()), where, prose=False)
    records = _provenance(folder)
    problems += lint_methods(documents["methods.md"], records)
    checklist = folder / "tripod_ai.tsv"
    if checklist.is_file():
        problems += lint_citations(pd.read_csv(checklist, sep="\t", dtype=str), records)
    return problems


USAGE = "usage: python -m sfckit.report.lint RESULTS [RESULTS ...]"


def main(argv: Iterable[str] | None = None) -> int:
    """Print the problems of each results folder named: 0 if none, 1 if any, 2 (with a
    one-line error) when a path is not a results folder, since reading nothing must never
    look like a clean pass."""
    folders = list(sys.argv[1:] if argv is None else argv)
    if not folders or any(f in ("-h", "--help") for f in folders):
        print(USAGE + "\n(a results folder holds methods.md, results.md or report.html)")
        return 0 if folders else 2
    for folder in folders:
        path = Path(folder)
        readable = [n for n in ("methods.md", "results.md", "report.html") if (path / n).is_file()]
        if not path.is_dir() or not readable:
            print(
                f"sfckit lint: error: {folder} is not a results folder (no methods.md, "
                "results.md or report.html in it); fix: give the folder sfckit run, demo or "
                "report wrote",
                file=sys.stderr,
            )
            return 2
    problems = [p for folder in folders for p in lint_results(folder)]
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem{'' if len(problems) == 1 else 's'}")
    return 1 if problems else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
