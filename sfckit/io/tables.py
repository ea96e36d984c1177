"""The one place tables are read: TSV files sfckit wrote, user-written tables (manifest,
participants.tsv) and fMRIPrep confounds, each with clear errors."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sfckit.errors import CoverageWarning, file_error

if TYPE_CHECKING:
    import pandas as pd


def read_tsv(path: str | Path, **kwargs: Any) -> pd.DataFrame:
    """Read a tab-separated table (``n/a`` and empty cells are missing); every reader of
    sfckit goes through here.

    Parameters
    ----------
    path : str or Path
        The file.
    **kwargs
        Passed to :func:`pandas.read_csv` (e.g. ``dtype``, ``nrows``).

    Returns
    -------
    pandas.DataFrame
    """
    import pandas as pd  # imported here so that worker processes start quickly

    return pd.read_csv(path, sep="\t", na_values=["n/a", ""], keep_default_na=True, **kwargs)


def read_text_table(path: Path, *, what: str, dtype: dict | None = None) -> pd.DataFrame:
    """A user-written tab-separated table (manifest, participants.tsv), with clear errors.

    Raises
    ------
    UserError
        Empty, binary, not UTF-8, or not parseable as tab-separated text.
    """
    import pandas as pd  # imported here so that worker processes start quickly

    try:
        return read_tsv(path, dtype=dtype, comment=None)
    except pd.errors.EmptyDataError:
        raise file_error(
            path,
            f"the {what} is empty",
            expected="a header row and one row per participant",
            fix=f"write the {what} as described in docs/guide/inputs.md",
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise file_error(
            path,
            f"the {what} cannot be parsed ({str(exc).splitlines()[0][:120]})",
            expected="a UTF-8, tab-separated table",
            fix="save it as tab-separated UTF-8 text with one header row",
        ) from None


def read_table(
    path: str | Path, *, required: Sequence[str] = (), what: str = "table"
) -> pd.DataFrame:
    """Read a TSV that must exist and hold the ``required`` columns."""
    import pandas as pd  # imported here so that worker processes start quickly

    path = Path(path)
    if not path.is_file():
        raise file_error(
            path,
            f"the {what} does not exist",
            fix="run the step that writes it first, or correct the path",
            missing=True,
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
    import pandas as pd  # imported here so that worker processes start quickly

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


def region_coverage(table: pd.DataFrame) -> pd.Series:
    """Per region column, the fraction of participants with a value.

    Participants without any value (failed or excluded by QC) do not count.
    """
    import pandas as pd  # imported here so that worker processes start quickly

    values = table.drop(columns="participant_id")
    measured = values.notna().any(axis=1)
    if not measured.any():
        return pd.Series(0.0, index=values.columns)
    return values.loc[measured].notna().mean(axis=0)


def drop_sparse_regions(
    table: pd.DataFrame, *, min_coverage: float, source: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drop the region columns whose coverage is below ``min_coverage``, with one warning.

    Returns
    -------
    table : DataFrame
        The feature table without the sparse regions.
    dropped : DataFrame
        ``region`` and ``coverage`` of every dropped region.
    """
    import warnings

    import pandas as pd  # imported here so that worker processes start quickly

    coverage = region_coverage(table)
    sparse = coverage[(coverage < min_coverage) | (coverage == 0)]
    dropped = pd.DataFrame({"region": sparse.index.astype(str), "coverage": sparse.to_numpy()})
    if len(sparse):
        listed = ", ".join(f"{name} ({value:.0%})" for name, value in sparse.head(8).items())
        more = f" and {len(sparse) - 8} more" if len(sparse) > 8 else ""
        warnings.warn(
            f"{source}: {len(sparse)} region(s) have a value for fewer than "
            f"{min_coverage:.0%} of participants and are left out: {listed}{more}; lower "
            "min_coverage (--min-coverage) to keep them",
            CoverageWarning,
            stacklevel=3,
        )
    return table.drop(columns=list(sparse.index)), dropped


def read_confounds(path: str | Path, *, n_volumes: int | None = None) -> pd.DataFrame:
    """Read an fMRIPrep confounds TSV (``n/a`` in the first rows is missing).

    Parameters
    ----------
    path : str or Path
        The ``*_desc-confounds_timeseries.tsv`` file.
    n_volumes : int, optional
        The run's length: the table must have one row per volume.

    Returns
    -------
    pandas.DataFrame
    """
    path = Path(path)
    if not path.is_file():
        raise file_error(
            path,
            "the confounds file does not exist",
            fix="fix the 'confounds' column of the manifest (sfckit manifest fills "
            "it from fMRIPrep)",
            missing=True,
        )
    table = read_tsv(path)
    if n_volumes is not None and len(table) != n_volumes:
        raise file_error(
            path,
            f"{len(table)} rows for a run of {n_volumes} volumes",
            expected="one row per volume",
            fix="use the run's own confounds file",
        )
    return table
