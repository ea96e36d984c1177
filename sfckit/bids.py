"""``sfckit bids FMRIPREP_DIR OUTPUT_DIR participant|group``: the BIDS-App call.

The same steps as ``sfckit manifest`` + ``extract`` (participant level) and ``stats``
(group level), called the way fMRIPrep and XCP-D users call a BIDS App, writing a BIDS
derivative dataset the official validator accepts:

- ``participant``: finds the selected participants' runs and GM maps (the ``manifest``
  step's discovery, ``--anat-derivatives`` for CAT12/SPM or fMRIPrep's own GM probseg),
  extracts their regional features (the ``extract`` step, cached and resumable) and writes
  per participant ``sub-<label>/[ses-<s>/]func/sub-<label>[_ses-<s>]_task-<task>_space-<space>
  _seg-<atlas>_desc-sfc_features.tsv`` (one row per region: ``sfc``, ``gmv``, ``alff``) with
  a JSON sidecar (group, motion, QC, ``Sources`` as BIDS URIs), and the atlas on the
  analysis grid as that participant's ``..._seg-<atlas>_dseg.nii.gz`` with its
  ``_dseg.tsv``, named as the released BIDS specification names segmentations (``seg-``,
  as XCP-D does for parcellated outputs). Participant jobs may run separately (one per
  node): each label set has its own work folder (``--work-dir``, by default the hidden
  ``OUTPUT_DIR/.sfckit/work``, which the validator and pybids skip).
- ``group``: collects every participant's file into the extract step's tables
  (``group/seg-<atlas>/sfc.tsv``, ``gmv.tsv``, ``alff.tsv``, ``manifest.tsv`` with the
  participants table merged and the motion columns kept) and runs the ``stats`` step on
  them with the study's group options (``--groups``, ``--covariates``, ``--categorical``,
  ``--alpha``, ``--min-coverage``, or the ``stats`` section of ``--study``).

The BIDS schema has no entry yet for regional feature tables or group-level tables:
``.bidsignore`` names them (``*_features.tsv``/``.json``, ``group/``). One top-level
``dataset_description.json`` lists every participant call and the group call (command,
parameters, input checksums), rebuilt from one record per call in ``.sfckit/calls``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sfckit.declarations.settings import ExtractSettings, ManifestSettings, StatsSettings
from sfckit.errors import UserError, file_error

if TYPE_CHECKING:
    from sfckit.io.atlases import Atlas

HIDDEN_FOLDER = ".sfckit"  # skipped by the BIDS validator and pybids (a dot folder)
WORK_FOLDER = f"{HIDDEN_FOLDER}/work"
CALLS_FOLDER = f"{HIDDEN_FOLDER}/calls"
GROUP_FOLDER = "group"
FEATURES_SUFFIX = "_desc-sfc_features.tsv"
FEATURE_KINDS = ("sfc", "gmv", "alff")  # the extract tables a features file holds, as columns
SHARED_SETTINGS = ("fd_threshold",)  # one value for both steps (the extract step's)
GROUP_SETTINGS = ("groups", "covariates", "categorical", "alpha", "min_coverage")
MOTION_COLUMNS = ("mean_fd", "n_censored", "n_volumes")
BIDSIGNORE = (
    "# sfckit: files the BIDS schema has no entry for yet (see README.md)\n"
    "*_features.tsv\n*_features.json\n/group\n"
)
FMRIPREP_LINK, ANAT_LINK = "fmriprep", "anat"


def atlas_label(atlas: Atlas | str) -> str:
    """A BIDS ``seg-`` label for an atlas (its name, letters and digits only)."""
    name = atlas if isinstance(atlas, str) else atlas.name
    name = Path(name).name.removesuffix(".gz").removesuffix(".nii")
    return re.sub(r"[^A-Za-z0-9]", "", name) or "custom"


class Links:
    """Paths as BIDS URIs: ``bids::`` inside the output, ``bids:fmriprep:`` and
    ``bids:anat:`` inside the input datasets, else a path relative to the output."""

    def __init__(self, output_dir: Path, datasets: Mapping[str, Path | None]):
        self.root = output_dir.resolve()
        self.datasets = {k: Path(v).resolve() for k, v in datasets.items() if v is not None}

    def links(self) -> dict[str, str]:
        """``DatasetLinks``: each dataset's path relative to the output dataset."""
        return {name: _relative(path, self.root) for name, path in self.datasets.items()}

    def uri(self, path: str | Path) -> str:
        """The BIDS URI (or relative path) of ``path``."""
        resolved = Path(path).resolve()
        for name, root in (("", self.root), *self.datasets.items()):
            if resolved.is_relative_to(root):
                return f"bids:{name}:{resolved.relative_to(root).as_posix()}"
        return _relative(resolved, self.root)

    @staticmethod
    def resolve(uri: str, output_dir: Path, links: Mapping[str, str]) -> Path:
        """The file a BIDS URI (or relative path) of this dataset names."""
        match = re.fullmatch(r"bids:([^:]*):(.*)", uri)
        if match is None:
            return (output_dir / uri).resolve()
        name, relative = match.groups()
        base = output_dir if not name else output_dir / links.get(name, name)
        return (base / relative).resolve()


def _relative(path: Path, start: Path) -> str:
    try:
        return Path(os.path.relpath(path, start)).as_posix()
    except ValueError:  # another drive (Windows): nothing relative exists
        return path.resolve().as_uri()


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
    work_dir: Path | None = None,
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
    from sfckit.io.outputs import file_sha256, write_json, write_tsv
    from sfckit.steps.extraction import extract_cohort

    participants = participants or fmriprep_dir / "participants.tsv"
    table = _participants_table(participants, required=True)
    if labels:
        wanted = {label.removeprefix("sub-") for label in labels}
        present = set(table["label"])
        absent = sorted(wanted - present)
        if absent:
            raise file_error(
                participants,
                f"--participant-label {', '.join(absent)} not in the participants table",
                expected=f"labels among {', '.join(sorted(present)[:10])}",
                fix="correct --participant-label",
            )
        table = table[table["label"].isin(wanted)]
    key = hashlib.sha256("\n".join(sorted(table["participant_id"])).encode()).hexdigest()[:12]
    work = (work_dir or output_dir / WORK_FOLDER) / f"participants-{key}"
    work.mkdir(parents=True, exist_ok=True)
    selected = write_tsv(table.drop(columns="label"), work / "participants.tsv")
    report = discover(selected, func_dir=fmriprep_dir, anat_dir=anat_dir, options=manifest_settings)
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
    links = Links(output_dir, {FMRIPREP_LINK: fmriprep_dir, ANAT_LINK: anat_dir})
    regions = loaded.region_names
    qc = tables["qc"].set_index("participant_id")
    by_participant = {
        kind: tables[kind].set_index("participant_id")[regions] for kind in FEATURE_KINDS
    }
    written = []
    for row in cohort.table.to_dict("records"):
        pid = row["participant_id"]
        features = pd.DataFrame(
            {
                "region": regions,
                **{kind: table.loc[pid].to_numpy() for kind, table in by_participant.items()},
            }
        )
        stem = output_dir / _participant_stem(pid, row["bold"], manifest_settings, loaded)
        path = write_tsv(features, stem.with_name(stem.name + FEATURES_SUFFIX))
        sources = [row["gmv"], *_runs(row.get("bold")), *_runs(row.get("confounds"))]
        sidecar = {
            "Description": "Regional structure-function coupling (sfc: the GMV-ALFF coupling "
            f"of each region, method '{extract_settings.method}'), regional GMV and ALFF",
            "Atlas": loaded.name,
            "AtlasFormat": loaded.format,
            "Method": extract_settings.method,
            "Group": row["group"],
            "Sources": [links.uri(source) for source in sources],
            "GrayMatterMeasure": row.get("gm_measure"),
            "Motion": {
                **{c: _plain(row.get(c)) for c in MOTION_COLUMNS if c in row},
                "FDThreshold": manifest_settings.fd_threshold,
            },
            "QC": json.loads(qc.loc[pid].to_json()),
        }
        write_json(sidecar, path.with_suffix(".json"))
        reference = links.uri(_runs(row["bold"])[0])
        _write_segmentation(stem, work / "extract", loaded, reference)
        written.append(path)
    description = json.loads((work / "extract" / "dataset_description.json").read_text())
    checksums = {  # the inputs, not the work folder's manifest made from them
        links.uri(path): digest
        for path, digest in description["InputChecksums"].items()
        if Path(path).resolve() != manifest_path.resolve()
    }
    checksums[links.uri(participants)] = file_sha256(participants)
    parameters: dict[str, Any] = {
        **manifest_settings.model_dump(mode="json"),
        **extract_settings.model_dump(mode="json"),
        "atlas": atlas,
        "atlas_labels": str(atlas_labels) if atlas_labels else None,
    }
    _record_call(
        output_dir,
        f"participant-{key}",
        {
            "Level": "participant",
            "Participants": sorted(cohort.table["participant_id"]),
            "Parameters": parameters,
            "Atlas": {k: loaded.provenance(_grid_of(work))[k] for k in _ATLAS_KEYS},
            "InputChecksums": dict(sorted(checksums.items())),
        },
        links,
    )
    return written


_ATLAS_KEYS = ("name", "source", "checksum", "format", "n_regions", "resampled_to")


def _runs(value: object) -> list[str]:
    from sfckit.io.manifest import runs_of

    return list(runs_of(value)) if isinstance(value, str) and value else []


def _plain(value: object) -> object:
    """A number as JSON writes it (numpy scalars and NaN made plain)."""
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    if number != number:
        return None
    return int(number) if number.is_integer() else number


def _grid_of(work: Path) -> Any:
    import nibabel as nib

    from sfckit.declarations import layout
    from sfckit.io.images import Grid

    return Grid.of(nib.load(work / "extract" / layout.ATLAS_IMAGE))


def _participant_stem(pid: str, functional: str, options: ManifestSettings, atlas: Atlas) -> Path:
    """``sub-X/[ses-Y/]func/sub-X[_ses-Y]_task-T_space-S_seg-A`` (the suffix is added)."""
    label = pid.removeprefix("sub-")
    session = re.search(r"_ses-([A-Za-z0-9]+)", Path(_runs(functional)[0]).name)
    parts = [f"sub-{label}"]
    folder = Path(f"sub-{label}")
    if session:
        parts.append(f"ses-{session.group(1)}")
        folder /= f"ses-{session.group(1)}"
    parts += [f"task-{options.task}", f"space-{options.space}", f"seg-{atlas_label(atlas)}"]
    return folder / "func" / "_".join(parts)


def _write_segmentation(stem: Path, extract_dir: Path, atlas: Atlas, reference: str) -> None:
    """The atlas as the analysis used it (on the participant's grid) as a BIDS ``dseg``
    image with its look-up table and sidecar."""
    import nibabel as nib
    import numpy as np

    from sfckit.declarations import layout
    from sfckit.io.outputs import save_nifti, write_json, write_tsv

    source = nib.load(extract_dir / layout.ATLAS_IMAGE)
    image = nib.Nifti1Image(np.asarray(source.dataobj).astype(np.int16), source.affine)
    image.header.set_xyzt_units("mm")
    save_nifti(image, stem.with_name(stem.name + "_dseg.nii.gz"))
    write_tsv(atlas.labels[["index", "name"]], stem.with_name(stem.name + "_dseg.tsv"))
    write_json(
        {
            "Description": f"The {atlas.name} atlas resampled (nearest neighbour) onto the "
            "participant's analysis grid, as sfckit used it",
            "SpatialReference": reference,
            "AtlasSource": atlas.source,
            "AtlasFormat": atlas.format,
        },
        stem.with_name(stem.name + "_dseg.json"),
    )


def run_group_level(
    output_dir: Path,
    *,
    atlas: str,
    atlas_labels: Path | None = None,
    participants: Path | None,
    fmriprep_dir: Path,
    stats_settings: StatsSettings | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> Path:
    """Collect the participants' feature files into group tables and run ``stats``.

    Returns
    -------
    Path
        The group folder (``group/seg-<atlas>``).
    """
    import pandas as pd

    from sfckit.io.atlases import load_atlas
    from sfckit.io.outputs import file_sha256, write_tsv
    from sfckit.io.tables import read_tsv
    from sfckit.steps.registry import all_steps

    stats_settings = stats_settings or StatsSettings()
    seg = atlas_label(load_atlas(atlas, atlas_labels))
    files = sorted(output_dir.glob(f"sub-*/**/func/*_seg-{seg}{FEATURES_SUFFIX}"))
    if not files:
        raise file_error(
            output_dir,
            f"no participant-level outputs for atlas '{atlas}' (*_seg-{seg}{FEATURES_SUFFIX})",
            fix="run the participant level first (sfckit bids FMRIPREP_DIR OUTPUT_DIR "
            "participant) with the same --atlas",
        )
    links_record = _dataset_links(output_dir)
    links = Links(output_dir, {})
    folder = output_dir / GROUP_FOLDER / f"seg-{seg}"
    folder.mkdir(parents=True, exist_ok=True)
    wide: dict[str, list[pd.Series]] = {kind: [] for kind in FEATURE_KINDS}
    rows, checksums = [], {}
    for path in files:
        pid = path.name.split("_")[0]
        features = read_tsv(path).set_index("region")
        sidecar_path = path.with_suffix(".json")
        sidecar = json.loads(sidecar_path.read_text())
        for kind, series in wide.items():
            series.append(features[kind].rename(pid))
        sources = [Links.resolve(uri, output_dir, links_record) for uri in sidecar["Sources"]]
        bold = [s for s in sources if "_bold.nii" in s.name]
        confounds = [s for s in sources if s.name.endswith("_timeseries.tsv")]
        rows.append(
            {
                "participant_id": pid,
                "group": sidecar["Group"],
                "gmv": _relative(sources[0], folder),
                "bold": ";".join(_relative(s, folder) for s in bold),
                **(
                    {"confounds": ";".join(_relative(s, folder) for s in confounds)}
                    if confounds
                    else {}
                ),
                "gm_measure": sidecar.get("GrayMatterMeasure"),
                **{c: v for c, v in sidecar.get("Motion", {}).items() if c in MOTION_COLUMNS},
            }
        )
        for checked in (path, sidecar_path):
            checksums[links.uri(checked)] = file_sha256(checked)
    for kind, series in wide.items():
        table = pd.concat(series, axis=1).T.rename_axis("participant_id").reset_index()
        write_tsv(table, folder / f"{kind}.tsv")
    manifest = pd.DataFrame(rows)
    clinical = participants or fmriprep_dir / "participants.tsv"
    if clinical.is_file():
        extra = _participants_table(clinical, required=False)
        extra["participant_id"] = "sub-" + extra.pop("label")
        extra = extra.drop(
            columns=[c for c in extra.columns if c in manifest and c != "participant_id"]
        )
        unmatched = sorted(set(manifest["participant_id"]) - set(extra["participant_id"]))
        if len(unmatched) == len(manifest):
            raise file_error(
                clinical,
                f"none of the participants ({', '.join(unmatched[:3])}, ...) is in the table",
                expected="participant_id values such as sub-01 or 01",
                fix="pass the participants table of this dataset with --participants",
            )
        manifest = manifest.merge(extra, on="participant_id", how="left")
        checksums[links.uri(clinical)] = file_sha256(clinical)
    manifest_path = write_tsv(manifest, folder / "manifest.tsv")
    all_steps()["stats"].run(
        {"features": folder / "sfc.tsv", "manifest": manifest_path},
        folder / "stats",
        stats_settings,
    )
    _record_call(
        output_dir,
        f"group-{seg}",
        {
            "Level": "group",
            "Participants": sorted(manifest["participant_id"]),
            "Parameters": {**stats_settings.model_dump(mode="json"), "atlas": atlas},
            "InputChecksums": dict(sorted(checksums.items())),
        },
        Links(output_dir, {}),
        links_record,
    )
    log(f"group: {len(files)} participants, statistics in {folder / 'stats'}")
    return folder


def _participants_table(path: Path, *, required: bool) -> Any:
    """A participants table with ``participant_id`` as ``sub-<label>`` and a ``label``
    column (ids may be given with or without ``sub-``)."""
    from sfckit.io.tables import read_text_table

    if not path.is_file():
        raise file_error(
            path,
            "no participants table",
            expected="a BIDS participants.tsv with participant_id and group columns",
            fix="pass --participants (e.g. the raw BIDS dataset's participants.tsv)",
        )
    table = read_text_table(path, what="participants table", dtype={"participant_id": str})
    if "participant_id" not in table.columns:
        raise file_error(path, "missing column 'participant_id'", fix="add the column")
    labels = table["participant_id"].astype(str).str.strip().str.removeprefix("sub-")
    table["label"] = labels
    if required:
        table["participant_id"] = "sub-" + labels
    return table


# -- the dataset's top-level files ---------------------------------------------------------
def _dataset_links(output_dir: Path) -> dict[str, str]:
    """The ``DatasetLinks`` the participant calls recorded."""
    links: dict[str, str] = {}
    for record in _call_records(output_dir):
        links.update(record.get("DatasetLinks", {}))
    return links


def _call_records(output_dir: Path) -> list[dict[str, Any]]:
    folder = output_dir / CALLS_FOLDER
    records = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    order = {"participant": 0, "group": 1}
    return sorted(records, key=lambda r: (order.get(r.get("Level"), 2), r.get("Time", "")))


def _record_call(
    output_dir: Path,
    key: str,
    record: dict[str, Any],
    links: Links,
    dataset_links: Mapping[str, str] | None = None,
) -> None:
    """Keep this call's record (a rerun of the same participants replaces it) and rebuild
    the dataset's ``dataset_description.json``, ``README.md`` and ``.bidsignore``."""
    from sfckit.io.outputs import command_line, parameters_hash, write_json
    from sfckit.version import __version__

    record = {
        **record,
        "Command": command_line(),
        "ParametersHash": parameters_hash(record["Parameters"]),
        "Version": __version__,
        "Time": datetime.now(UTC).isoformat(timespec="microseconds"),  # orders the calls
        "DatasetLinks": dict(dataset_links or links.links()),
    }
    write_json(record, output_dir / CALLS_FOLDER / f"{key}.json")
    write_dataset_files(output_dir)


def write_dataset_files(output_dir: Path) -> None:
    """``dataset_description.json`` (every call recorded), ``README.md``, ``.bidsignore``."""
    from sfckit.io.outputs import BIDS_VERSION, atomic_write, write_json
    from sfckit.version import __version__

    records = _call_records(output_dir)
    links: dict[str, str] = {}
    for record in records:
        links.update(record.get("DatasetLinks", {}))
    description = {
        "Name": "sfckit: regional structure-function coupling (GMV-ALFF)",
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative",
        "GeneratedBy": [
            {
                "Name": "sfckit",
                "Version": __version__,
                "Description": "sfckit BIDS App: participant level (manifest discovery and "
                "extract), group level (group tables and stats)",
            }
        ],
        "SourceDatasets": [{"URL": url} for url in sorted(set(links.values()))],
        "DatasetLinks": links,
        "Calls": [{k: v for k, v in r.items() if k != "DatasetLinks"} for r in records],
    }
    write_json(description, output_dir / "dataset_description.json")
    for name, text in ((".bidsignore", BIDSIGNORE), ("README.md", README)):
        with atomic_write(output_dir / name) as handle:
            handle.write(text)


README = """# sfckit derivatives

Regional structure-function coupling (SFC: the coupling of gray-matter volume and ALFF
within each atlas region), written by `sfckit bids FMRIPREP_DIR OUTPUT_DIR participant|group`.

- `sub-<label>/[ses-<s>/]func/*_seg-<atlas>_desc-sfc_features.tsv`: one row per region
  (`region`, `sfc`, `gmv`, `alff`); its JSON sidecar holds the group, the motion summary
  (`mean_fd`, `n_censored`), the quality-control row and the `Sources` (BIDS URIs into
  the datasets named in `dataset_description.json`'s `DatasetLinks`).
- `sub-<label>/.../*_seg-<atlas>_dseg.nii.gz` and `_dseg.tsv`: the atlas on the
  participant's analysis grid and its look-up table (index, name).
- `group/seg-<atlas>/`: the group tables (`sfc.tsv`, `gmv.tsv`, `alff.tsv`,
  `manifest.tsv`) and the group statistics (`stats/`).
- `dataset_description.json`: every participant call and the group call (command,
  parameters, input checksums) under `Calls`.

The BIDS specification has no entry yet for regional feature tables or group-level
tables; `.bidsignore` names them (`*_features.tsv`, `*_features.json`, `group/`) so that
the BIDS validator and BIDS tools pass over them. `.sfckit/` holds sfckit's own records and
(unless `--work-dir` was given) its cached work; tools skip it as a hidden folder.
"""


# -- options ---------------------------------------------------------------------------------
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


def group_settings(values: Mapping[str, Any], study: Path | None = None) -> StatsSettings:
    """The group level's ``stats`` settings: the study file's ``stats`` section (with its
    ``defaults``), then the options given on the command line."""
    from sfckit.declarations.base import validate_settings

    base: dict[str, Any] = {}
    if study is not None:
        from sfckit.study import load_study

        section = load_study(study).one("stats")
        if section is not None:
            base = section.model_dump()
    given = {k: v for k, v in values.items() if k in GROUP_SETTINGS}
    return validate_settings(StatsSettings, {**base, **given})


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
