"""The one way to read a manifest (the input contract of sfckit).

A manifest is a tab-separated file with a header row and one row per participant:

- ``participant_id`` (required, unique): any text.
- ``group`` (required): free text, e.g. ``TRD``, ``nTRD``, ``HC``.
- ``gmv`` (required): path to a modulated gray-matter map (3-D NIfTI).
- ``bold`` or ``alff`` (one of them per row): a preprocessed 4-D BOLD run in the same
  template space (several runs of one participant separated by ``;``), or a precomputed
  ALFF map (3-D).
- ``tr`` (optional): repetition time in seconds; otherwise read from the BOLD header.
- ``confounds`` (optional): the run's fMRIPrep confounds TSV (one per run, ``;``-separated,
  for several runs), used by ``extract`` (non-steady-state volumes, ``--denoise``,
  ``--fd-threshold``).
- ``gm_measure`` (optional, written by ``sfckit manifest``): what the GM map measures, e.g.
  "unmodulated GM probability (fMRIPrep label-GM_probseg)"; recorded in provenance.
- every other column (age, sex, site, clinical scores) is carried through unchanged.

Paths are absolute or relative to the manifest's folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sfckit.errors import file_error
from sfckit.io.tables import read_text_table

REQUIRED_COLUMNS = ("participant_id", "group", "gmv")
IMAGE_COLUMNS = ("gmv", "bold", "alff")
# gm_measure (written by `sfckit manifest`) says what the GM map measures: not a covariate
RESERVED_COLUMNS = (*REQUIRED_COLUMNS, "bold", "alff", "tr", "confounds", "gm_measure")
FIRST_DATA_LINE = 2  # line 1 is the header
# Several BOLD runs of one participant share a row: paths (and their confounds, in the same
# order) separated by ";", a character BIDS file names never contain.
RUN_SEPARATOR = ";"


def runs_of(value: str | None) -> list[str]:
    """The paths of a ``bold`` or ``confounds`` cell (one per run; empty for no value)."""
    if value is None or _is_blank(value):
        return []
    return [part.strip() for part in str(value).split(RUN_SEPARATOR) if part.strip()]


def run_rows(row: dict) -> list[dict]:
    """One manifest row per BOLD run of ``row`` (the row itself for a single run)."""
    runs = runs_of(row.get("bold"))
    if len(runs) <= 1:
        return [row]
    confounds = runs_of(row.get("confounds")) or [None] * len(runs)
    return [
        {**row, "bold": bold, "confounds": confound}
        for bold, confound in zip(runs, confounds, strict=True)
    ]


@dataclass
class Cohort:
    """A validated manifest.

    Attributes
    ----------
    path : Path
        The manifest file.
    table : pandas.DataFrame
        One row per participant. Image columns hold absolute paths (or missing values);
        ``functional`` says which of ``bold``/``alff`` the row uses; ``line`` is the
        row's line number in the file.
    covariate_columns : list of str
        Every column that is not part of the input contract (age, sex, scores...).
    """

    path: Path
    table: pd.DataFrame
    covariate_columns: list[str] = field(default_factory=list)

    @property
    def participant_ids(self) -> list[str]:
        """Participant IDs in manifest order."""
        return self.table["participant_id"].tolist()

    def clinical(self) -> pd.DataFrame:
        """``participant_id``, ``group`` and every carried-through column."""
        return self.table[["participant_id", "group", *self.covariate_columns]].copy()


def read_manifest(path: str | Path, *, check_files: bool = True, images: bool = True) -> Cohort:
    """Read and validate a manifest TSV.

    Parameters
    ----------
    path : str or Path
        The manifest.
    check_files : bool
        Also check that every image path exists.
    images : bool
        Require the image columns (``gmv`` and ``bold`` or ``alff``). Without, a manifest of
        ids, groups and clinical columns is enough: what a site needs to score or validate
        a clinical-only model, or an imaging model whose features are given as a table.

    Returns
    -------
    Cohort

    Raises
    ------
    UserError
        Unreadable or empty file, missing required column, duplicate or empty
        ``participant_id``, a row with neither or both of ``bold``/``alff``, a non-numeric
        or non-positive ``tr``, or a missing image file.
    """
    path = Path(path)
    table = _read_table(path)
    required = REQUIRED_COLUMNS if images else ("participant_id", "group")
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise file_error(
            path,
            f"missing required column(s) {', '.join(repr(c) for c in missing)} "
            f"(found {', '.join(repr(c) for c in table.columns)})",
            expected="a header with participant_id, group"
            + (", gmv and bold or alff" if images else ""),
            fix="add the column(s) to the header row (tab-separated)",
        )
    if images and "bold" not in table.columns and "alff" not in table.columns:
        raise file_error(
            path,
            "neither a 'bold' nor an 'alff' column",
            expected="one of them, holding the functional image of each participant",
            fix="add a 'bold' column (4-D runs) or an 'alff' column (ALFF maps)",
        )
    table.insert(0, "line", np.arange(FIRST_DATA_LINE, FIRST_DATA_LINE + len(table)))
    for column in ("gmv", "bold", "alff", "tr", "confounds"):
        if column not in table.columns:
            table[column] = pd.NA
    _check_ids(path, table)
    _check_groups(path, table)
    table["functional"] = (
        _functional_kind(path, table)
        if images
        else [
            "bold" if not _is_blank(b) else "alff" if not _is_blank(a) else None
            for b, a in zip(table["bold"], table["alff"], strict=True)
        ]
    )
    table["tr"] = _parse_tr(path, table)
    base = path.parent
    for column in (*IMAGE_COLUMNS, "confounds"):
        table[column] = [
            None
            if _is_blank(value)
            else RUN_SEPARATOR.join(str(_resolve(base, part)) for part in runs_of(value))
            for value in table[column]
        ]
    _check_run_lists(path, table)
    if check_files:
        _check_files_exist(path, table)
    covariates = [c for c in table.columns if c not in (*RESERVED_COLUMNS, "line", "functional")]
    return Cohort(path=path, table=table.reset_index(drop=True), covariate_columns=covariates)


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise file_error(
            path, "the manifest does not exist", fix="check the --manifest path", missing=True
        )
    table = read_text_table(path, what="manifest", dtype={"participant_id": str, "group": str})
    table.columns = [str(c).strip() for c in table.columns]
    if table.empty:
        raise file_error(
            path,
            "the manifest has a header but no participants",
            expected="at least one participant row",
            fix="add one row per participant",
        )
    return table


def _is_blank(value: object) -> bool:
    return (
        value is None
        or (isinstance(value, float) and np.isnan(value))
        or value is pd.NA
        or (isinstance(value, str) and not value.strip())
    )


def _check_ids(path: Path, table: pd.DataFrame) -> None:
    ids = table["participant_id"]
    for line, value in zip(table["line"], ids, strict=True):
        if _is_blank(value):
            raise file_error(
                path,
                "empty participant_id",
                row=line,
                column="participant_id",
                fix="give every participant a unique ID",
            )
    table["participant_id"] = ids.astype(str).str.strip()
    duplicated = table["participant_id"].duplicated(keep="first")
    if duplicated.any():
        first_dup = table.loc[duplicated].iloc[0]
        first_line = table.loc[table["participant_id"] == first_dup["participant_id"], "line"].iloc[
            0
        ]
        raise file_error(
            path,
            f"duplicate participant_id '{first_dup['participant_id']}' (also on line {first_line})",
            row=int(first_dup["line"]),
            column="participant_id",
            expected="one row per participant",
            fix="remove the duplicate row or give the participant a distinct ID",
        )


def _check_groups(path: Path, table: pd.DataFrame) -> None:
    for line, value in zip(table["line"], table["group"], strict=True):
        if _is_blank(value):
            raise file_error(
                path,
                "empty group",
                row=line,
                column="group",
                fix="fill in each participant's group (e.g. TRD, nTRD, HC)",
            )
    table["group"] = table["group"].astype(str).str.strip()


def _functional_kind(path: Path, table: pd.DataFrame) -> list[str]:
    kinds = []
    for line, bold, alff in zip(table["line"], table["bold"], table["alff"], strict=True):
        has_bold, has_alff = not _is_blank(bold), not _is_blank(alff)
        if has_bold and has_alff:
            raise file_error(
                path,
                "both 'bold' and 'alff' are given",
                row=line,
                expected="exactly one functional input per participant",
                fix="leave one of the two cells empty",
            )
        if not (has_bold or has_alff):
            raise file_error(
                path,
                "neither 'bold' nor 'alff' is given",
                row=line,
                expected="a BOLD run or an ALFF map per participant",
                fix="fill in the participant's functional image",
            )
        kinds.append("bold" if has_bold else "alff")
    return kinds


def _parse_tr(path: Path, table: pd.DataFrame) -> list[float | None]:
    values: list[float | None] = []
    for line, raw in zip(table["line"], table["tr"], strict=True):
        if _is_blank(raw):
            values.append(None)
            continue
        try:
            tr = float(raw)
        except (TypeError, ValueError):
            tr = float("nan")
        if not np.isfinite(tr) or tr <= 0:
            raise file_error(
                path,
                f"invalid tr '{raw}'",
                row=line,
                column="tr",
                expected="a positive number of seconds (e.g. 2.0)",
                fix="correct the value or leave it empty to read the TR from the BOLD header",
            )
        values.append(tr)
    return values


def _resolve(base: Path, value: str) -> Path:
    candidate = Path(value).expanduser()
    return candidate if candidate.is_absolute() else (base / candidate).resolve()


def _check_run_lists(path: Path, table: pd.DataFrame) -> None:
    """Several runs in ``bold``: as many confounds files (or none), and only ``bold``."""
    for row in table.itertuples(index=False):
        for column in ("gmv", "alff"):
            value = getattr(row, column)
            if value and RUN_SEPARATOR in value:
                raise file_error(
                    path,
                    f"several paths in '{column}'",
                    row=row.line,
                    column=column,
                    expected="one image (only 'bold' lists several runs, separated by ';')",
                    fix="keep one path in the cell",
                )
        runs, confounds = runs_of(row.bold), runs_of(row.confounds)
        if confounds and len(confounds) != len(runs):
            raise file_error(
                path,
                f"{len(runs)} BOLD run(s) but {len(confounds)} confounds file(s)",
                row=row.line,
                column="confounds",
                expected="one confounds file per run, in the runs' order, separated by ';'",
                fix="list the confounds of every run, or none",
            )


def _check_files_exist(path: Path, table: pd.DataFrame) -> None:
    for row in table.itertuples(index=False):
        for column in ("gmv", row.functional):
            value = getattr(row, column)
            if value is None:
                raise file_error(
                    path,
                    f"empty '{column}' path",
                    row=row.line,
                    column=column,
                    fix="fill in the image path for this participant",
                )
            missing = [part for part in runs_of(value) if not Path(part).is_file()]
            if missing:
                raise file_error(
                    path,
                    f"image file '{missing[0]}' does not exist",
                    row=row.line,
                    column=column,
                    fix="correct the path (relative paths start at the manifest's folder)",
                    missing=True,
                )
