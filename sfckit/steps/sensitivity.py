"""``sensitivity``: agreement of several ``stats`` analyses (SFC methods or atlases) and the
survival of the reference study's regions under each."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sfckit.declarations import layout
from sfckit.declarations.settings import SensitivitySettings
from sfckit.errors import UserError
from sfckit.steps.base import OUT_FOLDER, SERIAL, Execution, PathOption, Step, staged
from sfckit.steps.common import write_provenance

if TYPE_CHECKING:
    import pandas as pd


def labelled_folders(items: list[Any]) -> dict[str, Path]:
    """``["corr=out/a", "kl=out/b"]`` -> ``{"corr": Path("out/a"), ...}``."""
    analyses = {}
    for item in items:
        label, _, folder = str(item).partition("=")
        if not folder:
            raise UserError(
                f"invalid --stats '{item}'",
                expected="LABEL=FOLDER",
                fix="e.g. --stats correlation=out/stats-corr",
            )
        analyses[label] = Path(folder)
    return analyses


@staged
def run(
    inputs: Mapping[str, Any],
    out_dir: str | Path,
    settings: SensitivitySettings,
    execution: Execution = SERIAL,
) -> dict[str, pd.DataFrame]:
    """Agreement of ``inputs["stats"]`` (``LABEL=FOLDER`` items or a label -> folder mapping).

    Returns
    -------
    dict of DataFrame
        ``agreement`` and ``survival`` (also written to ``out_dir``).
    """
    from sfckit.io.outputs import write_tsv
    from sfckit.io.tables import read_table
    from sfckit.stats.sensitivity import STUDY_REGIONS, agreement, survival

    stats = inputs["stats"]
    analyses = (
        {k: Path(v) for k, v in stats.items()}
        if isinstance(stats, Mapping)
        else labelled_folders(list(stats))
    )
    if len(analyses) < 2:
        raise UserError(
            "sensitivity needs at least two analyses", fix="pass --stats LABEL=DIR at least twice"
        )
    results = {
        label: read_table(
            folder / layout.GROUP_STATS,
            required=["region", "p_fdr", "partial_eta2"],
            what="group statistics",
        )
        for label, folder in analyses.items()
    }
    regions = settings.regions or STUDY_REGIONS
    tables = {
        "agreement": agreement(results, alpha=settings.alpha),
        "survival": survival(results, regions, alpha=settings.alpha),
    }
    out_dir = Path(out_dir)
    write_tsv(tables["agreement"], out_dir / layout.AGREEMENT)
    write_tsv(tables["survival"], out_dir / layout.SURVIVAL)
    write_provenance(
        out_dir,
        "sensitivity",
        settings,
        [folder / layout.GROUP_STATS for folder in analyses.values()],
        method={"analyses": {k: str(v) for k, v in analyses.items()}, "regions": list(regions)},
    )
    return tables


def summary(result: dict[str, Any], settings: SensitivitySettings, out: Path) -> list[str]:
    """What the command line prints."""
    return [f"sensitivity: {out / layout.AGREEMENT} and {layout.SURVIVAL}"]


STEP = Step(
    name="sensitivity",
    help="agreement of stats across methods/atlases",
    settings=SensitivitySettings,
    inputs=(PathOption("stats", "LABEL=STATS_FOLDER, 2 or more", many=True),),
    output=OUT_FOLDER,
    outputs=(layout.AGREEMENT, layout.SURVIVAL, layout.DESCRIPTION),
    run=run,
    summary=summary,
)
