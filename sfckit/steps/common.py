"""Helpers shared by the step modules: reading regional tables, writing provenance."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sfckit.declarations.base import StepSettings
from sfckit.declarations.layout import DROPPED_REGIONS

if TYPE_CHECKING:
    import pandas as pd


def read_regions(path: Path, settings: StepSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A feature table without the regions below the settings' ``min_coverage``.

    Returns
    -------
    table : DataFrame
        ``participant_id`` and the kept region columns.
    dropped : DataFrame
        ``region``, ``coverage`` of the regions left out (also warned about).
    """
    from sfckit.io.tables import drop_sparse_regions, read_feature_table

    return drop_sparse_regions(
        read_feature_table(path), min_coverage=settings.min_coverage, source=str(path)
    )


def write_dropped(dropped: pd.DataFrame, out_dir: Path) -> None:
    """``dropped_regions.tsv``: the regions a step left out for low coverage (maybe none)."""
    from sfckit.io.outputs import write_tsv

    write_tsv(dropped, out_dir / DROPPED_REGIONS)


def settings_record(settings: StepSettings) -> dict[str, Any]:
    """The settings as JSON-ready values (for provenance and step keys)."""
    return settings.model_dump(mode="json")


def write_provenance(
    out_dir: Path,
    step: str,
    settings: StepSettings,
    inputs: Iterable[Path],
    *,
    method: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """``dataset_description.json`` with the settings, their hash and input checksums.

    Parameters
    ----------
    out_dir : Path
        The step's output folder.
    step : str
        The step's name.
    settings : StepSettings
        Every analysis setting of the run.
    inputs : iterable of Path
        Input files to checksum.
    method : mapping, optional
        Fixed descriptions of the method (not settings), stored with the parameters.
    extra : mapping, optional
        Further provenance (e.g. ``Sources``).
    """
    from sfckit.io.outputs import file_sha256, write_dataset_description

    write_dataset_description(
        out_dir,
        step=step,
        parameters={**settings_record(settings), **(method or {})},
        input_checksums={str(p): file_sha256(p) for p in inputs if Path(p).is_file()},
        extra=extra,
    )
