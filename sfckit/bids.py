"""``sfckit bids FMRIPREP_DIR OUTPUT_DIR participant|group``: the BIDS-App call.

The same steps as ``sfckit manifest`` + ``extract`` (participant level) and ``stats``
(group level), called the way fMRIPrep and XCP-D users call a BIDS App:

- ``participant``: finds the selected participants' runs and GM maps (the ``manifest``
  step's discovery, ``--anat-derivatives`` for CAT12/SPM or fMRIPrep's own GM probseg),
  extracts their regional features (the ``extract`` step, cached and resumable), and writes
  per participant ``sub-<label>/[ses-<s>/]func/sub-<label>[_ses-<s>]_task-<task>_space-<space>
  _seg-<atlas>_desc-sfc_features.tsv`` (one row per region: ``sfc``, ``gmv``, ``alff``) with
  a JSON sidecar (QC and provenance). Participant jobs may run separately (one per node):
  each label set has its own work folder under ``OUTPUT_DIR/sfckit-work``.
- ``group``: collects every participant's file into the extract step's tables
  (``group/seg-<atlas>/sfc.tsv``, ``gmv.tsv``, ``alff.tsv``, ``manifest.tsv``) and runs the
  ``stats`` step on them (all groups, no covariates; run ``sfckit stats`` on those tables
  for other settings).

``OUTPUT_DIR/dataset_description.json`` makes the folder a BIDS derivative dataset.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sfckit.declarations.settings import ExtractSettings, ManifestSettings
from sfckit.errors import UserError, file_error

WORK_FOLDER = "sfckit-work"
GROUP_FOLDER = "group"
FEATURES_SUFFIX = "_desc-sfc_features.tsv"
FEATURE_KINDS = ("sfc", "gmv", "alff")  # the extract tables a features file holds, as columns
SHARED_SETTINGS = ("fd_threshold",)  # one value for both steps (the extract step's)


def atlas_label(spec: str) -> str:
    """A BIDS ``seg-`` label for an atlas name or image path (letters and digits only)."""
    name = Path(spec).name.removesuffix(".gz").removesuffix(".nii")
    return re.sub(r"[^A-Za-z0-9]", "", name) or "custom"


def run_participant_level(
    fmriprep_dir: Path,
    output_dir: Path,
    *,
    labels: Sequence[str] | None,
    participants: Path | None,
    anat_dir: Path | None,
    atlas: str,
    atlas_labels: Path | None,
    manifest_settings: ManifestSettings,
    extract_settings: ExtractSettings,
    jobs: int = 1,
    progress: bool = False,
    log: Callable[[str], None] = lambda line: None,
) -> list[Path]:
    """Extract the selected participants and write their BIDS-derivative feature files.

    Returns
    -------
    list of Path
        The ``*_desc-sfc_features.tsv`` files written, one per participant.
    """
    import pandas as pd

    from sfckit.io.atlases import load_atlas
    from sfckit.io.discover import discover
    from sfckit.io.manifest import read_manifest
    from sfckit.io.outputs import write_json, write_tsv
    from sfckit.io.tables import read_text_table
    from sfckit.steps.extraction import extract_cohort

    participants = participants or fmriprep_dir / "participants.tsv"
    if not participants.is_file():
        raise file_error(
            participants,
            "no participants table",
            expected="a BIDS participants.tsv with participant_id and group columns",
            fix="pass --participants (e.g. the raw BIDS dataset's participants.tsv)",
        )
    table = read_text_table(participants, what="participants table", dtype={"participant_id": str})
    if "participant_id" not in table.columns:
        raise file_error(participants, "missing column 'participant_id'", fix="add the column")
    table["participant_id"] = table["participant_id"].astype(str).str.strip()
    if labels:
        wanted = {label.removeprefix("sub-") for label in labels}
        present = {pid.removeprefix("sub-") for pid in table["participant_id"]}
        absent = sorted(wanted - present)
        if absent:
            raise file_error(
                participants,
                f"--participant-label {', '.join(absent)} not in the participants table",
                expected=f"labels among {', '.join(sorted(present)[:10])}",
                fix="correct --participant-label",
            )
        table = table[table["participant_id"].str.removeprefix("sub-").isin(wanted)]
    key = hashlib.sha256("\n".join(sorted(table["participant_id"])).encode()).hexdigest()[:12]
    work = output_dir / WORK_FOLDER / f"participants-{key}"
    work.mkdir(parents=True, exist_ok=True)
    selected = work / "participants.tsv"
    write_tsv(table, selected)
    report = discover(
        selected,
        func_dir=fmriprep_dir,
        anat_dir=anat_dir,
        options=manifest_settings,
    )
    manifest_path = write_tsv(report.manifest, work / "manifest.tsv")
    cohort = read_manifest(manifest_path)
    loaded = load_atlas(atlas, atlas_labels)
    tables = extract_cohort(
        cohort,
        work / "extract",
        atlas=loaded,
        parameters=extract_settings,
        jobs=jobs,
        progress=progress,
        keep_going=extract_settings.keep_going,
        log=log,
        exclude_qc=extract_settings.exclude_qc,
    )
    regions = loaded.region_names
    qc = tables["qc"].set_index("participant_id")
    by_participant = {
        kind: tables[kind].set_index("participant_id")[regions] for kind in FEATURE_KINDS
    }
    written = []
    for row in cohort.table.itertuples(index=False):
        pid = row.participant_id
        features = pd.DataFrame(
            {
                "region": regions,
                **{kind: table.loc[pid].to_numpy() for kind, table in by_participant.items()},
            }
        )
        path = output_dir / _participant_file(pid, row.bold, manifest_settings, atlas)
        write_tsv(features, path)
        sidecar = {
            "Atlas": atlas,
            "Method": extract_settings.method,
            "Group": row.group,
            "Sources": {"gm": row.gmv, "bold": row.bold},
            "GrayMatterMeasure": getattr(row, "gm_measure", None),
            "QC": json.loads(qc.loc[pid].to_json()),
        }
        write_json(sidecar, path.with_suffix(".json"))
        written.append(path)
    _write_description(output_dir, "participant", manifest_settings, extract_settings, atlas)
    return written


def run_group_level(
    output_dir: Path,
    *,
    atlas: str,
    participants: Path | None,
    fmriprep_dir: Path,
    log: Callable[[str], None] = lambda line: None,
) -> Path:
    """Collect the participants' feature files into group tables and run ``stats``.

    Returns
    -------
    Path
        The group folder (``group/seg-<atlas>``).
    """
    import pandas as pd

    from sfckit.declarations.settings import StatsSettings
    from sfckit.io.outputs import write_tsv
    from sfckit.io.tables import read_text_table, read_tsv
    from sfckit.steps.registry import all_steps

    seg = atlas_label(atlas)
    files = sorted(output_dir.glob(f"sub-*/**/func/*_seg-{seg}{FEATURES_SUFFIX}"))
    if not files:
        raise file_error(
            output_dir,
            f"no participant-level outputs for atlas '{atlas}' (*_seg-{seg}{FEATURES_SUFFIX})",
            fix="run the participant level first (sfckit bids FMRIPREP_DIR OUTPUT_DIR participant)",
        )
    wide: dict[str, list[pd.Series]] = {kind: [] for kind in FEATURE_KINDS}
    rows = []
    for path in files:
        pid = path.name.split("_")[0]
        features = read_tsv(path).set_index("region")
        sidecar = json.loads(path.with_suffix(".json").read_text())
        for kind, series in wide.items():
            series.append(features[kind].rename(pid))
        rows.append(
            {
                "participant_id": pid,
                "group": sidecar["Group"],
                "gmv": sidecar["Sources"]["gm"],
                "bold": sidecar["Sources"]["bold"],
            }
        )
    folder = output_dir / GROUP_FOLDER / f"seg-{seg}"
    folder.mkdir(parents=True, exist_ok=True)
    for kind, series in wide.items():
        table = pd.concat(series, axis=1).T.rename_axis("participant_id").reset_index()
        write_tsv(table, folder / f"{kind}.tsv")
    manifest = pd.DataFrame(rows)
    clinical = participants or fmriprep_dir / "participants.tsv"
    if clinical.is_file():
        extra = read_text_table(clinical, what="participants table", dtype={"participant_id": str})
        extra = extra.drop(columns=[c for c in ("group",) if c in extra.columns])
        manifest = manifest.merge(extra, on="participant_id", how="left")
    manifest_path = write_tsv(manifest, folder / "manifest.tsv")
    step = all_steps()["stats"]
    step.run(
        {"features": folder / "sfc.tsv", "manifest": manifest_path},
        folder / "stats",
        StatsSettings(),
    )
    log(f"group: {len(files)} participants, statistics in {folder / 'stats'}")
    return folder


def _participant_file(pid: str, functional: str, options: ManifestSettings, atlas: str) -> Path:
    """``sub-X/[ses-Y/]func/sub-X[_ses-Y]_task-T_space-S_seg-A_desc-sfc_features.tsv``."""
    label = pid.removeprefix("sub-")
    session = re.search(r"_ses-([A-Za-z0-9]+)", Path(functional).name)
    parts = [f"sub-{label}"]
    folder = Path(f"sub-{label}")
    if session:
        parts.append(f"ses-{session.group(1)}")
        folder /= f"ses-{session.group(1)}"
    parts += [f"task-{options.task}", f"space-{options.space}", f"seg-{atlas_label(atlas)}"]
    return folder / "func" / ("_".join(parts) + FEATURES_SUFFIX)


def _write_description(
    output_dir: Path,
    level: str,
    manifest_settings: ManifestSettings,
    extract_settings: ExtractSettings,
    atlas: str,
) -> None:
    from sfckit.io.outputs import write_dataset_description

    parameters: dict[str, Any] = {
        **manifest_settings.model_dump(mode="json"),
        **extract_settings.model_dump(mode="json"),
        "atlas": atlas,
    }
    write_dataset_description(output_dir, step=f"bids {level}", parameters=parameters)


def split_settings(values: Mapping[str, Any]) -> tuple[ManifestSettings, ExtractSettings]:
    """The manifest and extract settings of one ``sfckit bids`` call (``fd_threshold`` is
    extract's and also counts the manifest's ``n_censored``)."""
    from sfckit.declarations.base import validate_settings

    extract = validate_settings(
        ExtractSettings, {k: v for k, v in values.items() if k in ExtractSettings.model_fields}
    )
    manifest_values = {
        k: v
        for k, v in values.items()
        if k in ManifestSettings.model_fields and k not in SHARED_SETTINGS
    }
    if extract.fd_threshold is not None:
        manifest_values["fd_threshold"] = extract.fd_threshold
    return validate_settings(ManifestSettings, manifest_values), extract


def check_level(level: str) -> None:
    """``participant`` or ``group``, or a one-line error."""
    if level not in ("participant", "group"):
        import difflib

        near = difflib.get_close_matches(level, ["participant", "group"], n=1, cutoff=0.6)
        raise UserError(
            f"analysis level '{level}'",
            expected="participant or group",
            fix=(f"did you mean '{near[0]}'? " if near else "")
            + "sfckit bids FMRIPREP_DIR OUTPUT_DIR participant (then group)",
        )


def check_folders(fmriprep_dir: Path, output_dir: Path, level: str) -> None:
    """The input folder exists (before any other complaint about what is in it), and, at the
    participant level, the output folder can be written: one-line errors, before any work."""
    from sfckit.io.outputs import check_writable

    if not fmriprep_dir.exists():
        raise file_error(
            fmriprep_dir,
            "the folder does not exist",
            expected="fMRIPrep's derivatives folder (with sub-*/ folders)",
            fix="check the FMRIPREP_DIR path (the first argument of sfckit bids)",
        )
    if not fmriprep_dir.is_dir():
        raise file_error(
            fmriprep_dir,
            "is a file, not a folder",
            expected="fMRIPrep's derivatives folder (with sub-*/ folders)",
            fix="give the folder as FMRIPREP_DIR (the first argument of sfckit bids)",
        )
    if level == "participant":
        check_writable(output_dir)
