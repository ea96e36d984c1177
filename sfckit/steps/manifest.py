"""``manifest``: build a manifest from fMRIPrep, CAT12/SPM and DPABI derivative folders."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sfckit.declarations.settings import ManifestSettings
from sfckit.steps.base import SERIAL, Execution, PathOption, Step


def run(
    inputs: Mapping[str, Any],
    out_path: str | Path,
    settings: ManifestSettings,
    execution: Execution = SERIAL,
) -> Any:
    """Discover each participant's files and write the manifest to ``out_path``.

    Returns
    -------
    DiscoveryReport
        The manifest and what was missing, ambiguous or left out.
    """
    from sfckit.io.discover import UNMODULATED, discover
    from sfckit.io.outputs import write_tsv

    report = discover(
        Path(inputs["participants"]),
        func_dir=inputs.get("func_derivatives"),
        anat_dir=inputs.get("anat_derivatives"),
        alff_dir=inputs.get("alff_derivatives"),
        options=settings,
    )
    write_tsv(report.manifest, out_path)
    measures = report.manifest.get("gm_measure")
    unmodulated = 0 if measures is None else int(measures.str.contains(UNMODULATED, na=False).sum())
    if unmodulated:
        warnings.warn(
            f"{unmodulated} participant(s) get "
            "fMRIPrep's GM probability map (label-GM_probseg): an unmodulated probability, not "
            "a GM volume; for GMV proper use modulated CAT12 or SPM maps (--anat-derivatives "
            "with --gm cat12 or spm)",
            UserWarning,
            stacklevel=2,
        )
    for pid in report.dropped:
        why = (
            f"missing {', '.join(report.missing[pid])}"
            if pid in report.missing
            else f"{len(report.ambiguous[pid])} matching files"
        )
        print(f"left out {pid}: {why}", file=sys.stderr)
    return report


def summary(report: Any, settings: ManifestSettings, out: Path) -> list[str]:
    """What the command line prints."""
    return [
        f"manifest: {out} ({len(report.manifest)} participants); check it, then run sfckit extract"
    ]


STEP = Step(
    name="manifest",
    help="build a manifest from fMRIPrep/CAT12/SPM/DPABI",
    settings=ManifestSettings,
    inputs=(
        PathOption("participants", "participants.tsv"),
        PathOption(
            "anat_derivatives",
            "CAT12 or SPM folder (default: the fMRIPrep folder, whose GM probseg --gm fmriprep "
            "uses)",
            required=False,
        ),
        PathOption("func_derivatives", "fMRIPrep folder", required=False),
        PathOption("alff_derivatives", "DPABI/DPARSF results folder", required=False),
    ),
    output=PathOption("out", "the manifest to write"),
    outputs=(),
    run=run,
    summary=summary,
)
