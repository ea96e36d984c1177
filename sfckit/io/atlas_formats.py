"""Atlases in the shapes they are distributed in: look-up tables, FSL XML, TemplateFlow.

A user atlas is a label image plus a table that names its label values. Besides sfckit's
own TSV (``index``, ``name``), sfckit reads these tables, detecting the format from the
file's content (:func:`table_format`, :func:`read_lut`):

``tsv``
    A header row with ``index`` and ``name`` (other columns ignored): sfckit's own table and
    the BIDS / TemplateFlow ``_dseg.tsv``.
``freesurfer-lut``
    ``index name R G B A`` lines, whitespace-separated, ``#`` comments: FreeSurfer's
    ``FreeSurferColorLUT.txt``, the Brainnetome atlas's ``BN_Atlas_246_LUT.txt`` and
    Schaefer 2018's ``*_order.txt`` (tab-separated, ``A`` = 0).
``fsleyes-lut``
    ``index R G B name`` lines with colours in 0–1: Schaefer 2018's ``fsleyes_lut/*.lut``.
``schaefer-order-info``
    A name line followed by an ``index R G B A`` line, per region: Schaefer 2018's
    ``*_order_info.txt``.

Label value 0 is background in every format; a row naming it (FreeSurfer's ``Unknown``) is
skipped. An FSL atlas is described by an XML file (:func:`read_fsl_xml`); a TemplateFlow
atlas is a ``tpl-*_atlas-*_dseg.nii.gz`` image with its ``_dseg.tsv``
(:func:`templateflow_files`). The loaders that turn these into an
:class:`~sfckit.io.atlases.Atlas` are in :mod:`sfckit.io.atlases`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

import nibabel as nib
import pandas as pd

from sfckit.errors import UserError, file_error

FORMATS = {
    "tsv": "TSV with columns index and name",
    "freesurfer-lut": "FreeSurfer colour look-up table (index name R G B A)",
    "fsleyes-lut": "FSLeyes look-up table (index R G B name)",
    "schaefer-order-info": "Schaefer 2018 order_info table (name line, index R G B A line)",
    "fsl-xml-label": "FSL atlas XML with a 3-D label image",
    "fsl-xml-probabilistic": "FSL atlas XML with a 4-D probabilistic image",
    "templateflow": "TemplateFlow atlas (tpl-*_atlas-*_dseg.nii.gz with its _dseg.tsv)",
}
_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
LUT_EXPECTED = {
    "freesurfer-lut": "'index name R G B A' (an integer, a name, four integers)",
    "fsleyes-lut": "'index R G B name' (an integer, three numbers, a name)",
    "schaefer-order-info": "a region name line, then an 'index R G B A' line of integers",
}


def table_format(path: str | Path) -> str:
    """The format of an atlas look-up table (a key of :data:`FORMATS`), from its content.

    Raises
    ------
    UserError
        Missing, empty or non-text file, a colour map without names, or an unknown format.
    """
    path = Path(path)
    lines = _content_lines(path)
    first = lines[0][1]
    header = [cell.strip().lower() for cell in first.split("\t")]
    if "index" in header or "name" in header:
        return "tsv"
    if first.startswith("%BeginInstance") or any("<-color{" in line for _, line in lines[:20]):
        raise file_error(
            path,
            "this .lut is a colour map without region names (the MRIcron/ClassLUT kind)",
            expected="a table that names the labels",
            fix="use the atlas's *_order.txt or fsleyes_lut/*.lut instead",
        )
    kind = _lut_kind([line for _, line in lines[:2]])
    if kind is None:
        raise file_error(
            path,
            f"unrecognised atlas label table line '{first[:60]}'",
            row=lines[0][0],
            expected="a TSV with columns index and name, or " + "; or ".join(LUT_EXPECTED.values()),
            fix="pass the look-up table that came with the atlas, or write a TSV with "
            "columns index and name",
        )
    return kind


def read_lut(path: str | Path, kind: str) -> pd.DataFrame:
    """Read a look-up table of format ``kind`` (not ``tsv``: see
    :func:`sfckit.io.atlases.read_labels`).

    Returns
    -------
    DataFrame
        Columns ``index`` (int, > 0) and ``name`` (str) in the file's order.

    Raises
    ------
    UserError
        A malformed line (named by its line number), a negative or duplicate index or name.
    """
    path = Path(path)
    return checked_rows(path, _parse_lut(path, _content_lines(path), kind))


def _content_lines(path: Path) -> list[tuple[int, str]]:
    """``(line number, stripped line)`` of the lines that are neither blank nor comments."""
    if not path.is_file():
        raise file_error(
            path, "the atlas label table does not exist", fix="check --atlas-labels", missing=True
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise file_error(
            path,
            "the atlas label table is not UTF-8 text",
            expected="a TSV, FreeSurfer LUT or Schaefer order/.lut table",
            fix="pass the text look-up table that came with the atlas",
        ) from None
    lines = [
        (number, line.strip())
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines:
        raise file_error(path, "the atlas label table is empty", fix="pass the atlas's table")
    return lines


def _lut_kind(first_two: list[str]) -> str | None:
    tokens = first_two[0].split()
    if len(tokens) >= 6 and _INTEGER.fullmatch(tokens[0]) and not _NUMBER.fullmatch(tokens[1]):
        return "freesurfer-lut"
    if (
        len(tokens) >= 5
        and _INTEGER.fullmatch(tokens[0])
        and all(_NUMBER.fullmatch(t) for t in tokens[1:4])
        and not _NUMBER.fullmatch(tokens[4])
    ):
        return "fsleyes-lut"
    if len(first_two) == 2:
        following = first_two[1].split()
        if len(following) == 5 and all(_INTEGER.fullmatch(t) for t in following):
            return "schaefer-order-info"
    return None


def _parse_lut(path: Path, lines: list[tuple[int, str]], kind: str) -> list[tuple[int, int, str]]:
    """``(line number, index, name)`` per row of a look-up table of ``kind``."""
    rows = []

    def malformed(number: int, line: str) -> UserError:
        return file_error(
            path,
            f"malformed {FORMATS[kind]} line '{line[:60]}'",
            row=number,
            expected=LUT_EXPECTED[kind],
            fix="correct the line (or pass the table as it was distributed)",
        )

    if kind == "schaefer-order-info":
        if len(lines) % 2:
            raise malformed(*lines[-1])
        for (_, name), (number, values) in zip(lines[::2], lines[1::2], strict=True):
            tokens = values.split()
            if len(tokens) != 5 or not all(_INTEGER.fullmatch(t) for t in tokens):
                raise malformed(number, values)
            rows.append((number, int(tokens[0]), name))
        return rows
    for number, line in lines:
        tokens = line.split()
        if kind == "freesurfer-lut":
            ok = (
                len(tokens) >= 6
                and _INTEGER.fullmatch(tokens[0])
                and all(_INTEGER.fullmatch(t) for t in tokens[-4:])
            )
            name = " ".join(tokens[1:-4])
        else:
            ok = (
                len(tokens) >= 5
                and _INTEGER.fullmatch(tokens[0])
                and all(_NUMBER.fullmatch(t) for t in tokens[1:4])
            )
            name = " ".join(tokens[4:])
        if not ok or not name:
            raise malformed(number, line)
        rows.append((number, int(tokens[0]), name))
    return rows


def checked_rows(path: Path, rows: list[tuple[int, int, str]]) -> pd.DataFrame:
    """``(line, index, name)`` rows as a look-up table: background (index 0) skipped,
    positive unique indices and names required (an error names the line)."""
    seen: dict[str, dict[object, int]] = {"index": {}, "name": {}}
    kept = []
    for number, index, name in rows:
        if index == 0:
            continue
        if index < 0:
            raise file_error(
                path,
                f"invalid label index '{index}'",
                row=number,
                expected="a positive integer label value (0 is background)",
                fix="correct the index",
            )
        for column, value in (("index", index), ("name", name)):
            if value in seen[column]:
                raise file_error(
                    path,
                    f"duplicate {column} '{value}' (first on row {seen[column][value]})",
                    row=number,
                    expected=f"each {column} once",
                    fix="make each region appear once",
                )
            seen[column][value] = number
        kept.append((index, name))
    if not kept:
        raise file_error(path, "the atlas label table names no region (only background)")
    return pd.DataFrame(kept, columns=["index", "name"]).astype({"index": int, "name": str})


# -- FSL XML -----------------------------------------------------------------------------------
@dataclass
class FslAtlasDescription:
    """What an FSL atlas XML says: its name, type, images and labels."""

    path: Path
    name: str
    kind: str  # "probabilistic" or "label"
    images: list[Path] = field(default_factory=list)
    labels: list[tuple[int, int, str]] = field(default_factory=list)  # (line, index, name)


def read_fsl_xml(path: str | Path) -> FslAtlasDescription:
    """Parse an FSL atlas XML (``$FSLDIR/data/atlases/*.xml``).

    ``<imagefile>`` paths are relative to the XML's folder (FSL writes them with a leading
    ``/`` and without the ``.nii.gz`` suffix). ``<label index=.. x=.. y=.. z=..>name</label>``:
    for a probabilistic atlas the index is the 0-based volume of the 4-D image, for a label
    atlas the voxel value.

    Raises
    ------
    UserError
        Unparseable XML, no type or image, or a label without an integer index (named by its
        line).
    """
    path = Path(path)
    if not path.is_file():
        raise file_error(
            path, "the FSL atlas XML does not exist", fix="check --atlas", missing=True
        )
    parser = expat.ParserCreate()
    stack: list[str] = []
    texts: dict[str, list[str]] = {}
    labels: list[tuple[int, str | None, list[str]]] = []
    found: dict[str, list[str]] = {"name": [], "shortname": [], "type": [], "imagefile": []}

    def start(tag: str, attributes: dict[str, str]) -> None:
        stack.append(tag)
        texts[tag] = []
        if tag == "label":
            labels.append((parser.CurrentLineNumber, attributes.get("index"), texts[tag]))

    def end(tag: str) -> None:
        stack.pop()
        if tag in found:
            found[tag].append("".join(texts[tag]).strip())

    def characters(data: str) -> None:
        if stack:
            texts[stack[-1]].append(data)

    parser.StartElementHandler, parser.EndElementHandler = start, end
    parser.CharacterDataHandler = characters
    try:
        parser.Parse(path.read_bytes(), True)
    except expat.ExpatError as exc:
        raise file_error(
            path,
            f"the FSL atlas XML cannot be parsed ({expat.ErrorString(exc.code)})",
            row=exc.lineno,
            expected="an FSL atlas description (<atlas><header>..</header><data>..</data>)",
            fix="pass the XML as FSL distributes it",
        ) from None
    kind = (found["type"] or [""])[0].lower().replace("probabalistic", "probabilistic")
    if kind not in ("probabilistic", "label"):
        raise file_error(
            path,
            f"<type> '{kind}'" if kind else "no <type> in the header",
            expected="Probabilistic or Label",
            fix="pass an FSL atlas XML",
        )
    if not found["imagefile"]:
        raise file_error(path, "no <imagefile> in the header", fix="pass an FSL atlas XML")
    parsed = []
    for number, index, text in labels:
        name = "".join(text).strip()
        if index is None or not _INTEGER.fullmatch(index.strip()) or not name:
            raise file_error(
                path,
                f"<label index='{index}'>{name}</label>",
                row=number,
                expected="an integer index attribute and a region name",
                fix="correct the label",
            )
        parsed.append((number, int(index), name))
    if not parsed:
        raise file_error(path, "no <label> in <data>", fix="pass an FSL atlas XML")
    name = (found["shortname"] or found["name"] or [path.stem])[0] or path.stem
    images = [_fsl_image_path(path, relative) for relative in found["imagefile"]]
    return FslAtlasDescription(path=path, name=name, kind=kind, images=images, labels=parsed)


def _fsl_image_path(xml: Path, relative: str) -> Path:
    base = xml.parent / relative.lstrip("/")
    if base.name.endswith((".nii", ".nii.gz")):
        return base
    for suffix in (".nii.gz", ".nii"):
        if base.with_name(base.name + suffix).is_file():
            return base.with_name(base.name + suffix)
    return base.with_name(base.name + ".nii.gz")


def finest_image(paths: list[Path], source: Path) -> Path:
    """The existing image with the smallest voxels (the first of equals), as fslpy and
    FSLeyes choose by default."""
    existing = [p for p in paths if p.is_file()]
    if not existing:
        raise file_error(
            source,
            f"none of the atlas images it names exist ({', '.join(str(p) for p in paths[:3])})",
            fix="keep the images beside the description, as distributed",
        )
    sizes = [max(nib.load(p).header.get_zooms()[:3]) for p in existing]
    return existing[sizes.index(min(sizes))]


# -- TemplateFlow ------------------------------------------------------------------------------
def _without_res(name: str) -> str:
    return re.sub(r"_res-[A-Za-z0-9]+", "", name)


def templateflow_files(path: str | Path) -> tuple[Path, Path, dict[str, str]]:
    """The label image, its ``_dseg.tsv`` and its entities, for a TemplateFlow atlas.

    ``path`` is a ``tpl-<template>_[res-<r>_]atlas-<a>[_desc-<d>]_dseg.nii[.gz]`` image (its
    table is the ``_dseg.tsv`` with the same entities, without ``res``) or a template folder
    holding one atlas (one ``atlas``/``desc`` combination); of several resolutions the one
    with the smallest voxels is used.

    Raises
    ------
    UserError
        No atlas in the folder, several atlases (listed), or no table.
    """
    path = Path(path)
    if path.is_dir():
        images = sorted(
            p for p in path.iterdir() if re.fullmatch(r"tpl-.+_atlas-.+_dseg\.nii(\.gz)?", p.name)
        )
        if not images:
            raise file_error(
                path,
                "no TemplateFlow atlas image (tpl-*_atlas-*_dseg.nii.gz) in the folder",
                fix="pass the template folder that holds the atlas, or the label image itself",
            )
        atlases = sorted({_without_res(p.name).split(".nii")[0] for p in images})
        if len(atlases) > 1:
            raise file_error(
                path,
                f"{len(atlases)} atlases in the folder ({', '.join(atlases[:4])}"
                + (", ..." if len(atlases) > 4 else "")
                + ")",
                expected="one atlas",
                fix=f"pass the image of the one you want, e.g. --atlas {images[0]}",
            )
        image = finest_image(images, path)
    else:
        image = path
    stem = image.name.split(".nii")[0]
    candidates = [image.with_name(_without_res(stem) + ".tsv"), image.with_name(stem + ".tsv")]
    table = next((c for c in candidates if c.is_file()), None)
    if table is None:
        raise file_error(
            image,
            "no TemplateFlow label table beside the atlas image",
            expected=f"{candidates[0]}",
            fix="fetch the atlas's _dseg.tsv too (it is in the same template folder)",
        )
    entities = dict(re.findall(r"([a-z]+)-([A-Za-z0-9]+)", stem))
    return image, table, entities
