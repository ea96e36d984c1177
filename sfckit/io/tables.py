"""Reading the tables sfckit steps write (features, statistics) with clear errors."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from sfckit.errors import file_error
from sfckit.io.outputs import read_tsv


def read_table(
    path: str | Path, *, required: Sequence[str] = (), what: str = "table"
) -> pd.DataFrame:
    """Read a TSV that must exist and hold the ``required`` columns."""
    path = Path(path)
    if not path.is_file():
        raise file_error(
            path,
            f"the {what} does not exist",
            fix="run the step that writes it first, or correct the path",
        )
    try:
        table = read_tsv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise file_error(
            path,
            f"the {what} cannot be read ({type(exc).__name__})",
            expected="a tab-separated table with a header row",
            fix="re-run the step that writes it",
        ) from None
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise file_error(
            path,
            f"missing column(s) {', '.join(repr(c) for c in missing)}",
            expected=f"the columns {', '.join(required)}",
            fix="re-run the step that writes it with this sfckit version",
        )
    return table


def read_feature_table(path: str | Path) -> pd.DataFrame:
    """Read ``sfc.tsv``/``gmv.tsv``/``alff.tsv``: ``participant_id`` then numeric region columns.

    Raises
    ------
    UserError
        Missing file, no ``participant_id`` column, duplicate IDs or a non-numeric value.
    """
    table = read_table(path, required=["participant_id"], what="feature table")
    table["participant_id"] = table["participant_id"].astype(str)
    if table.shape[1] < 2:
        raise file_error(
            path, "no region columns", expected="one column per region", fix="re-run sfckit extract"
        )
    duplicated = table["participant_id"].duplicated()
    if duplicated.any():
        raise file_error(
            path,
            f"duplicate participant_id '{table.loc[duplicated, 'participant_id'].iloc[0]}'",
            expected="one row per participant",
            fix="re-run sfckit extract",
        )
    for column in table.columns[1:]:
        numeric = pd.to_numeric(table[column], errors="coerce")
        bad = table[column].notna() & numeric.isna()
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise file_error(
                path,
                f"non-numeric value '{table[column].iloc[row]}'",
                row=row + 2,
                column=str(column),
                expected="numbers (or n/a)",
                fix="correct the value or re-run sfckit extract",
            )
        table[column] = numeric.astype(float)
    return table
