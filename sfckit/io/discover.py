"""Building a manifest from the outputs of the pipelines users already run.

- fMRIPrep (BIDS derivatives): ``sub-*/[ses-*/]func/*_task-<task>[_run-<run>]_space-<space>
  [_res-<res>]_desc-preproc_bold.nii[.gz]`` with its ``_desc-confounds_timeseries.tsv`` and
  JSON sidecar (``RepetitionTime``).
- CAT12 (``mri/mwp1*.nii``) and SPM VBM (``mwc1*.nii``, smoothed ``smwc1*.nii``) modulated
  gray-matter maps, or fMRIPrep's ``*_space-<space>_label-GM_probseg.nii.gz`` (an
  unmodulated GM probability, not a volume; the ``gm_measure`` column says which).
- DPABI/DPARSF ALFF maps (``ALFFMap_*.nii``; ``mALFFMap_*`` and ``zALFFMap_*`` on request).

Files are matched to participants by the BIDS label in their name (``sub-01`` or ``01``).
Ambiguous matches and missing files are listed; participants with a missing file are left
out only when asked (``drop_incomplete``). Mean framewise displacement (over the volumes not
flagged non-steady-state, :mod:`sfckit.io.motion`) and the number of volumes above an FD
threshold are added from the fMRIPrep confounds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sfckit.declarations.settings import ManifestSettings
from sfckit.errors import UserError, file_error
from sfckit.io.manifest import RUN_SEPARATOR, runs_of
from sfckit.io.motion import FD_COLUMN, mean_framewise_displacement, pooled_mean
from sfckit.io.tables import read_confounds, read_text_table

GM_PATTERNS = {"cat12": ("mwp1",), "spm": ("mwc1",), "spm-smoothed": ("smwc1",)}
GM_KINDS = (*GM_PATTERNS, "fmriprep")  # the order "auto" tries
# What each GM source measures: recorded in the manifest (gm_measure), provenance and Methods.
GM_MEASURES = {
    "cat12": "modulated GM volume (CAT12 mwp1)",
    "spm": "modulated GM volume (SPM mwc1)",
    "spm-smoothed": "modulated GM volume (SPM smwc1, smoothed)",
    "fmriprep": "unmodulated GM probability (fMRIPrep label-GM_probseg)",
}
UNMODULATED = "unmodulated"
UNSTATED_GM = "GM map as given in the manifest (taken to be a modulated GM volume)"
ALFF_PREFIXES = {"raw": "ALFFMap_", "m": "mALFFMap_", "z": "zALFFMap_"}


@dataclass
class DiscoveryReport:
    """What was found and what was not."""

    manifest: pd.DataFrame
    missing: dict[str, list[str]] = field(default_factory=dict)
    ambiguous: dict[str, list[str]] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)


def _label(participant_id: str) -> str:
    return participant_id.removeprefix("sub-")


def _belongs(path: Path, label: str) -> bool:
    """Is ``path`` a file of participant ``label`` (BIDS entity or bare label in the name)?"""
    pattern = rf"(^|[^A-Za-z0-9])(sub-)?{re.escape(label)}([^A-Za-z0-9]|$)"
    return any(re.search(pattern, part) for part in (path.name, *path.parent.parts[-3:]))


def _entity(name: str, key: str) -> str | None:
    match = re.search(rf"_{key}-([A-Za-z0-9]+)", name)
    return match.group(1) if match else None


def find_bold(func_dir: Path, label: str, options: ManifestSettings) -> list[Path]:
    """fMRIPrep preprocessed BOLD runs of one participant matching the options."""
    pattern = f"sub-{label}/**/func/sub-{label}_*desc-{options.desc}_bold.nii*"
    candidates = sorted(func_dir.glob(pattern))
    chosen = []
    for path in candidates:
        name = path.name
        if _entity(name, "task") != options.task or _entity(name, "space") != options.space:
            continue
        if options.res and _entity(name, "res") != options.res:
            continue
        run = _entity(name, "run")
        if (
            options.run
            and options.run != "all"
            and run is not None
            and run.lstrip("0") != options.run.lstrip("0")
        ):
            continue
        chosen.append(path)
    return chosen


def bold_entities(func_dir: Path, label: str) -> dict[str, list[str]]:
    """The task, space and desc entities of one participant's BOLD runs (for a message
    that says what exists when the options match nothing)."""
    found: dict[str, set[str]] = {"task": set(), "space": set(), "desc": set()}
    for path in func_dir.glob(f"sub-{label}/**/func/sub-{label}_*_bold.nii*"):
        for key, values in found.items():
            value = _entity(path.name, key)
            if value:
                values.add(value)
    return {key: sorted(values) for key, values in found.items()}


def _what_exists(func_dir: Path, label: str, options: ManifestSettings) -> str:
    """``; task 'rest' not found; tasks here: balloonanalogrisktask`` and the like."""
    exists = bold_entities(func_dir, label)
    if not any(exists.values()):
        return "; no BOLD run of this participant in the fMRIPrep folder"
    parts = []
    for key in ("task", "space", "desc"):
        wanted = getattr(options, key)
        if exists[key] and wanted not in exists[key]:
            parts.append(f"{key} '{wanted}' not found; {key}s here: {', '.join(exists[key])}")
    return "; " + "; ".join(parts) if parts else ""


def confounds_of(bold: Path) -> Path:
    """The fMRIPrep confounds file of a preprocessed run (any ``desc-`` of the run)."""
    stem = re.sub(r"_space-[^_]+", "", bold.name)
    stem = re.sub(r"_res-[^_]+", "", stem)
    stem = re.split(r"_desc-[^_]+_bold", stem)[0]
    return bold.with_name(f"{stem}_desc-confounds_timeseries.tsv")


def repetition_time_of(bold: Path) -> float | None:
    """``RepetitionTime`` from the run's JSON sidecar, if any."""
    sidecar = bold.with_name(bold.name.split(".nii")[0] + ".json")
    if not sidecar.is_file():
        return None
    try:
        value = json.loads(sidecar.read_text()).get("RepetitionTime")
    except json.JSONDecodeError:
        raise file_error(
            sidecar, "the JSON sidecar cannot be parsed", fix="repair or remove the sidecar"
        ) from None
    return float(value) if value else None


def motion_summary(confounds: Path, fd_threshold: float) -> dict[str, float]:
    """Mean framewise displacement (:func:`sfckit.io.motion.mean_framewise_displacement`:
    over the volumes not flagged non-steady-state, as extract's default analyses them), the
    number of FD values it averaged, the volumes above ``fd_threshold`` and the run's
    volumes."""
    table = read_confounds(confounds)
    if FD_COLUMN not in table.columns:
        raise file_error(
            confounds,
            f"no '{FD_COLUMN}' column",
            expected="an fMRIPrep confounds file",
            fix="rerun fMRIPrep or remove the file",
        )
    fd = table[FD_COLUMN].to_numpy(dtype=float)
    mean_fd, n_fd = mean_framewise_displacement(table)
    return {
        "mean_fd": mean_fd,
        "n_fd": n_fd,
        "n_censored": int(np.sum(np.nan_to_num(fd) > fd_threshold)),
        "n_volumes": int(len(fd)),
    }


def _runs_record(pid: str, runs: list[Path], options: ManifestSettings) -> dict[str, object]:
    """TR, confounds and motion of a participant's run(s) (summed over runs; one TR)."""
    trs = {repetition_time_of(bold) for bold in runs}
    if len(trs) > 1:
        raise UserError(
            f"{pid}: the runs have different TRs ({', '.join(sorted(str(t) for t in trs))})",
            expected="one TR per participant when runs are combined",
            fix="choose one run with --run",
        )
    record: dict[str, object] = {"tr": trs.pop()}
    confounds = [confounds_of(bold) for bold in runs]
    if all(c.is_file() for c in confounds):
        record["confounds"] = RUN_SEPARATOR.join(str(c.resolve()) for c in confounds)
        motion = [motion_summary(c, options.fd_threshold) for c in confounds]
        volumes = sum(m["n_volumes"] for m in motion)
        record["mean_fd"] = pooled_mean([(m["mean_fd"], m["n_fd"]) for m in motion])[0]
        record["n_censored"] = sum(m["n_censored"] for m in motion)
        record["n_volumes"] = volumes
    return record


def find_gm(
    anat_dir: Path, label: str, kind: str, options: ManifestSettings | None = None
) -> tuple[list[Path], str]:
    """Gray-matter maps of one participant and which source they are (a ``GM_KINDS`` key):
    CAT12 / SPM modulated maps by prefix, or fMRIPrep's ``space-<space>[_res-<res>]
    _label-GM_probseg`` (``auto``: the first source with a file, in ``GM_KINDS`` order)."""
    options = options or ManifestSettings()
    if kind not in ("auto", *GM_KINDS):
        raise UserError(
            f"invalid --gm '{kind}'",
            expected=f"auto or one of {', '.join(GM_KINDS)}",
            fix="correct --gm",
        )
    for name in GM_KINDS if kind == "auto" else [kind]:
        if name == "fmriprep":
            found = [p for p in _fmriprep_gm(anat_dir, options) if _belongs(p, label)]
        else:
            found = [
                p
                for prefix in GM_PATTERNS[name]
                for p in sorted(anat_dir.rglob(f"{prefix}*.nii*"))
                if _belongs(p, label) and p.name.startswith(prefix)
            ]
        if found or kind != "auto":
            return found, name
    return [], kind


def _fmriprep_gm(anat_dir: Path, options: ManifestSettings) -> list[Path]:
    """fMRIPrep's GM probability maps in the BOLD runs' space (and ``res``, when given)."""
    found = []
    for path in sorted(anat_dir.rglob("*_label-GM_probseg.nii*")):
        if _entity(path.name, "space") != options.space:
            continue
        if options.res is not None and _entity(path.name, "res") != options.res:
            continue
        found.append(path)
    return found


def find_alff(alff_dir: Path, label: str, kind: str) -> list[Path]:
    """DPABI/DPARSF ALFF maps of one participant."""
    prefix = ALFF_PREFIXES[kind]
    return [p for p in sorted(alff_dir.rglob(f"{prefix}*.nii*")) if _belongs(p, label)]


def discover(
    participants: Path,
    *,
    func_dir: Path | None = None,
    anat_dir: Path | None = None,
    alff_dir: Path | None = None,
    options: ManifestSettings | None = None,
) -> DiscoveryReport:
    """Build a manifest table from derivative folders and a participants table.

    Raises
    ------
    UserError
        No participants table or no ``participant_id``/``group`` column, neither a
        functional nor an ALFF folder, or (unless ``drop_incomplete``) any participant with
        a missing or ambiguous file.
    """
    options = options or ManifestSettings()
    if func_dir is None and alff_dir is None:
        raise UserError(
            "no functional inputs given",
            fix="pass --func-derivatives (fMRIPrep) or --alff-derivatives (DPABI)",
        )
    if anat_dir is None:
        if func_dir is None:
            raise UserError(
                "no gray-matter maps given",
                fix="pass --anat-derivatives (CAT12/SPM), or --func-derivatives (fMRIPrep) "
                "with --gm fmriprep",
            )
        anat_dir = func_dir  # fMRIPrep writes the anatomical outputs beside the functional
    for folder in (func_dir, anat_dir, alff_dir):
        if folder is not None and not folder.is_dir():
            raise file_error(
                folder, "the derivatives folder does not exist", fix="check the path", missing=True
            )
    if not participants.is_file():
        raise file_error(
            participants,
            "the participants table does not exist",
            fix="pass the BIDS participants.tsv",
            missing=True,
        )
    table = read_text_table(participants, what="participants table", dtype={"participant_id": str})
    for column in ("participant_id", "group"):
        if column not in table.columns:
            raise file_error(
                participants,
                f"missing column '{column}'",
                expected="participant_id and group columns",
                fix="add the column (group: e.g. TRD, nTRD, HC)",
            )
    rows, missing, ambiguous = [], {}, {}
    for record in table.to_dict("records"):
        pid = str(record["participant_id"])
        label = _label(pid)
        row = {"participant_id": pid, "group": record["group"]}
        gm_maps, gm_kind = find_gm(anat_dir, label, options.gm, options)
        found = {"gmv": gm_maps}
        if gm_maps:
            row["gm_measure"] = GM_MEASURES[gm_kind]
        if alff_dir is not None:
            found["alff"] = find_alff(alff_dir, label, options.alff_kind)
        else:
            found["bold"] = find_bold(func_dir, label, options)
        for column, paths in found.items():
            if not paths:
                missing.setdefault(pid, []).append(column)
            elif len(paths) > 1 and not (column == "bold" and options.run == "all"):
                ambiguous.setdefault(pid, []).extend(str(p) for p in paths)
            else:
                row[column] = RUN_SEPARATOR.join(str(p.resolve()) for p in paths)
        if "bold" in row:
            row.update(_runs_record(pid, [Path(p) for p in runs_of(row["bold"])], options))
        row.update({k: v for k, v in record.items() if k not in row})
        rows.append(row)
    problems = sorted(set(missing) | set(ambiguous))
    if problems and not options.drop_incomplete:
        first = problems[0]
        detail = (
            f"missing {', '.join(missing[first])}"
            if first in missing
            else f"{len(ambiguous[first])} candidate files: {', '.join(ambiguous[first][:3])}"
        )
        if "bold" in missing.get(first, []):
            detail += _what_exists(func_dir, _label(first), options)
        if "gmv" in missing.get(first, []):
            detail += (
                f" (--gm {options.gm} looks in {anat_dir} for "
                + ("CAT12 mwp1*, SPM mwc1*/smwc1*, then " if options.gm == "auto" else "")
                + (
                    f"fMRIPrep *_space-{options.space}"
                    + (f"_res-{options.res}" if options.res else "")
                    + "_label-GM_probseg"
                    if options.gm in ("auto", "fmriprep")
                    else f"{GM_PATTERNS[options.gm][0]}*"
                )
                + ")"
            )
        raise UserError(
            f"{participants}: {len(problems)} participant(s) without exactly one file per input "
            f"(first: {first}, {detail})",
            expected="one GM map and one BOLD run (or ALFF map) per participant",
            fix="choose with --task/--space/--desc/--res/--run/--gm, or pass --drop-incomplete to "
            "leave them out",
        )
    manifest = pd.DataFrame([r for r in rows if r["participant_id"] not in problems])
    return DiscoveryReport(
        manifest=manifest, missing=missing, ambiguous=ambiguous, dropped=problems
    )
