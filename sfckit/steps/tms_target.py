"""``tms-target``: an individual left-DLPFC rTMS target per participant with a BOLD run.

The method (seed, search region, cluster rule, split-half reliability) is in
:mod:`sfckit.features.tms`; BOLD runs must be in MNI space. Writes ``targets.tsv`` (MNI
coordinates for neuronavigation, anticorrelation, distances to the reference sites,
split-half distance and a reliability flag) and each participant's seed-correlation map of
the search region. For research use only.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from sfckit.declarations import layout
from sfckit.declarations.settings import TmsTargetSettings
from sfckit.lazy import lazy_function
from sfckit.report.context import Prose, Section
from sfckit.steps.base import OUT_FOLDER, SERIAL, Execution, PathOption, Step
from sfckit.steps.common import write_provenance
from sfckit.steps.plan import StudyRole, plan_once


def _masks(grid_affine, shape, settings: TmsTargetSettings):
    """Voxel coordinates, seed and search masks on a run's grid, built (and user masks read)
    once per grid and worker process, not once per participant; read-only."""
    return _masks_on_grid(
        grid_affine.tobytes(),
        tuple(int(n) for n in shape),
        settings.seed_mask,
        settings.search_mask,
        tuple(settings.seed_coordinate),
        settings.seed_radius,
    )


@lru_cache(maxsize=4)
def _masks_on_grid(affine_bytes, shape, seed_mask, search_mask, seed_coordinate, seed_radius):
    import numpy as np

    from sfckit.features import tms
    from sfckit.io.images import load_data, load_image

    grid_affine = np.frombuffer(affine_bytes, dtype=float).reshape(4, 4)
    coordinates = tms.voxel_coordinates(grid_affine, shape)

    def user_mask(path: str, role: str):
        image = load_image(path, ndim=3, role=role)
        if image.shape[:3] != tuple(shape) or not np.allclose(image.affine, grid_affine):
            from sfckit.errors import file_error

            raise file_error(
                path,
                f"the {role} is not on the BOLD grid ({image.shape[:3]} vs {tuple(shape)})",
                fix="resample the mask to the BOLD runs' grid",
            )
        return load_data(image, path, role=role) > 0

    seed = (
        user_mask(seed_mask, "seed mask")
        if seed_mask
        else tms.sphere(coordinates, seed_coordinate, seed_radius)
    )
    search = (
        user_mask(search_mask, "search mask")
        if search_mask
        else tms.dlpfc_search_region(coordinates, np.ones(shape, dtype=bool))
    )
    template = _template_brain(grid_affine, shape)
    for array in (coordinates, seed, search, template):
        array.setflags(write=False)
    return coordinates, seed, search, template


TEMPLATE_MARGIN_MM = 8.0


TEMPLATE_BRAIN = "mni152_brain_mask_2mm.nii.gz"  # in sfckit/data


def _template_brain(grid_affine, shape):
    """The MNI152 brain mask on the run's grid (nearest), dilated by TEMPLATE_MARGIN_MM.

    The mask is nilearn's ``load_mni152_brain_mask(resolution=2)``, shipped in sfckit/data
    (30 KB; tested equal to nilearn's): building it resamples nilearn's 1 mm template after
    importing ``nilearn.datasets``, which took 4 of the 5 seconds of a one-participant run.
    """
    from importlib.resources import files

    import numpy as np
    import pandas as pd
    from scipy import ndimage

    from sfckit.io.atlases import Atlas
    from sfckit.io.images import Grid, load_image

    brain = Atlas(
        name="MNI152 brain mask",
        image=load_image(files("sfckit.data") / TEMPLATE_BRAIN, ndim=3, role="template mask"),
        labels=pd.DataFrame({"index": [1], "name": ["brain"]}),
        source="nilearn.datasets.load_mni152_brain_mask(resolution=2)",
        checksum="nilearn-mni152-brain-mask-2mm",
    )
    inside = brain.labels_on(Grid(tuple(shape), grid_affine)) > 0
    # a margin of TEMPLATE_MARGIN_MM: the template is a population average, and an
    # individual's cortex (where DLPFC targets lie) can reach past its edge
    voxel = float(np.min(np.abs(np.diag(grid_affine)[:3])))
    steps = max(1, int(np.ceil(TEMPLATE_MARGIN_MM / voxel)))
    return ndimage.binary_dilation(inside, iterations=steps)


def run_brain_mask(bold: str) -> Path | None:
    """fMRIPrep's brain mask of a run (``…_desc-brain_mask.nii.gz`` beside
    ``…_desc-preproc_bold.nii.gz``), when it is there."""
    path = Path(bold)
    for suffix in (".nii.gz", ".nii"):
        stem = f"_desc-preproc_bold{suffix}"
        if path.name.endswith(stem):
            mask = path.with_name(path.name[: -len(stem)] + f"_desc-brain_mask{suffix}")
            return mask if mask.is_file() else None
    return None


def _cache_key(row: dict, settings: TmsTargetSettings) -> str:
    """What a participant's target depends on: the run (path, size, modification time),
    the TR, every setting and any user mask, and the versions of sfckit and its libraries."""
    from sfckit.io.outputs import parameters_hash
    from sfckit.version import environment_record

    files = {}
    for name in (row["bold"], settings.seed_mask, settings.search_mask):
        if name:  # a missing file is reported by the loader, in one line
            stat = Path(name).stat() if Path(name).is_file() else None
            files[str(name)] = [stat.st_size, stat.st_mtime_ns] if stat else "missing"
    return parameters_hash(
        {
            "participant_id": row["participant_id"],
            "tr": row.get("tr"),
            "files": files,
            "settings": settings.model_dump(mode="json"),
            "environment": environment_record(),
        }
    )


def _cache_file(cache: Path, participant_id: str) -> Path:
    from sfckit.features.participant import cache_name

    return cache / cache_name(participant_id).replace(".npz", ".json")


def _cached(row: dict, key: str, cache: Path, out_dir: Path) -> dict | None:
    """The stored target of a finished participant, if it was stored under ``key`` (same
    inputs and settings) and its map is still there; ``None`` otherwise (also for a damaged
    entry)."""
    import json

    try:
        entry = json.loads(_cache_file(cache, row["participant_id"]).read_text())
        if entry["key"] != key:
            return None
        return entry["result"] if (out_dir / entry["result"]["map"]).is_file() else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _participant(row: dict, key: str, settings: TmsTargetSettings, maps: Path, cache: Path) -> dict:
    """One participant's target, stored in ``cache`` under ``key`` as soon as it is found,
    so that an interrupted run resumes without recomputing it."""
    import json

    from sfckit.io.outputs import atomic_write

    result = _target(row, settings, maps)
    with atomic_write(_cache_file(cache, row["participant_id"]), durable=False) as handle:
        json.dump({"key": key, "result": result}, handle)
    return result


def _target(row: dict, settings: TmsTargetSettings, maps: Path) -> dict:
    import nibabel as nib
    import numpy as np

    from sfckit.errors import UserError
    from sfckit.features import tms
    from sfckit.features.participant import resolve_tr
    from sfckit.io.images import load_image, stream_voxels
    from sfckit.io.outputs import save_nifti

    path = row["bold"]
    image = load_image(path, ndim=4, role="bold")
    tr = resolve_tr(path, image, row.get("tr"))
    if image.shape[3] < 2 * tms.MIN_HALF_VOLUMES:
        raise UserError(
            f"{path}: the run has {image.shape[3]} volumes, too few to find a target and "
            "check it on each half of the run",
            expected=f"at least {2 * tms.MIN_HALF_VOLUMES} volumes",
            fix="use a longer resting-state run (several minutes), or leave this "
            "participant's bold empty in the manifest",
        )
    shape = image.shape[:3]
    coordinates, seed, search, template = _masks(image.affine, shape, settings)
    if not seed.any():
        where = (
            f"the seed mask {settings.seed_mask}"
            if settings.seed_mask
            else f"the {settings.seed_radius:g}-mm seed sphere at MNI "
            f"({', '.join(f'{v:g}' for v in settings.seed_coordinate)})"
        )
        raise UserError(
            f"{path}: {where} has no voxel in the run's field of view",
            expected="a seed inside the image (the sgACC default is 6 16 -10)",
            fix="correct --seed-coordinate (MNI mm) or --seed-mask",
        )
    series, _ = stream_voxels(image, path, seed | search, role="bold")
    order = np.flatnonzero((seed | search).ravel())
    seed_columns = np.isin(order, np.flatnonzero(seed.ravel()))
    search_columns = np.isin(order, np.flatnonzero(search.ravel()))
    # "brain": inside the run's own brain mask (fMRIPrep) or else the MNI152 template's,
    # and with a signal that varies; outside-brain voxels of an unmasked run never count
    own_mask = run_brain_mask(path)
    if own_mask is not None:
        mask_image = load_image(own_mask, ndim=3, role="brain mask")
        if mask_image.shape[:3] != tuple(shape) or not np.allclose(mask_image.affine, image.affine):
            raise UserError(
                f"{own_mask}: the run's brain mask is not on the run's grid",
                expected="fMRIPrep's desc-brain_mask of the same space and resolution",
                fix="remove the mask or use the one fMRIPrep wrote for this run",
            )
        in_mask = np.asarray(mask_image.dataobj).ravel()[order] > 0
    else:
        in_mask = template.ravel()[order]
    brain = (series.std(axis=0) > 0) & in_mask
    if not (brain & seed_columns).any() or (brain & search_columns).sum() < 10:
        raise UserError(
            f"{path}: the run has no signal in the seed or the search region",
            expected="a BOLD run in MNI space covering the subgenual ACC and left DLPFC",
            fix="check the run's space and field of view, or give --seed-mask/--search-mask",
        )
    search_in_brain = search.copy()
    search_in_brain[search] = brain[search_columns]
    result, correlation = tms.find_target(
        series[:, seed_columns & brain],
        series[:, search_columns & brain],
        tr=tr,
        search_mask=search_in_brain,
        coordinates=coordinates,
        fraction=settings.fraction,
        reliable_distance=settings.reliable_distance,
    )
    volume = np.zeros(shape, dtype=np.float32)
    volume[search_in_brain] = correlation
    name = f"{row['participant_id']}_desc-sgacc_correlation.nii.gz"
    save_nifti(nib.Nifti1Image(volume, image.affine), maps / name)
    return {"participant_id": row["participant_id"], **result, "map": f"{layout.TMS_MAPS}/{name}"}


def run(
    inputs: Mapping[str, Any],
    out_dir: str | Path,
    settings: TmsTargetSettings,
    execution: Execution = SERIAL,
) -> dict[str, Any]:
    """Individual targets for every participant with a BOLD run in ``inputs["manifest"]``.

    Parameters
    ----------
    inputs : mapping
        ``manifest`` (``bold`` column; ``tr`` optional).
    out_dir : str or Path
        Output folder.
    settings : TmsTargetSettings
        Seed, search region, cluster share and reliability threshold.
    execution : Execution
        Workers and progress bar.

    Returns
    -------
    dict
        ``targets`` (a DataFrame, also ``targets.tsv``).
    """
    import pandas as pd

    from sfckit.engine import run_tasks
    from sfckit.errors import UserError, file_error
    from sfckit.features.tms import NOTICE
    from sfckit.io.manifest import RUN_SEPARATOR, read_manifest, runs_of
    from sfckit.io.outputs import staged_folder
    from sfckit.steps.extraction import CACHE_FOLDER

    manifest_path = Path(inputs["manifest"])
    out_dir = Path(out_dir)
    cohort = read_manifest(manifest_path)
    table = cohort.table
    if "bold" not in table.columns or table["bold"].isna().all():
        raise UserError(
            f"{manifest_path}: no participant has a 'bold' run",
            expected="a 'bold' column with preprocessed resting-state runs in MNI space",
            fix="add the runs to the manifest (ALFF maps alone cannot give a target)",
        )
    rows = table[table["bold"].notna()].to_dict("records")
    several = [row for row in rows if RUN_SEPARATOR in row["bold"]]
    if several:
        raise file_error(
            manifest_path,
            f"{several[0]['participant_id']} has {len(runs_of(several[0]['bold']))} BOLD runs",
            row=int(several[0]["line"]),
            column="bold",
            expected="one run per participant (the target's split-half reliability is "
            "computed within a run)",
            fix="write a manifest with one run (sfckit manifest --run 1)",
        )
    maps = out_dir / layout.TMS_MAPS
    cache = out_dir / CACHE_FOLDER / "tms-target"  # made by the first stored target, so a
    # run that fails before any participant leaves an earlier output folder as it was
    keys = [_cache_key(row, settings) for row in rows]
    reused = [_cached(row, key, cache, out_dir) for row, key in zip(rows, keys, strict=True)]
    pending = [
        (row, key) for row, key, done in zip(rows, keys, reused, strict=True) if done is None
    ]
    if execution.log and len(pending) < len(rows):
        execution.log(
            f"tms-target: {len(rows) - len(pending)} participant(s) reused from the cache, "
            f"{len(pending)} to compute"
        )
    results = run_tasks(
        _participant,
        [(row, key, settings, maps, cache) for row, key in pending],
        jobs=execution.jobs,
        progress=execution.progress,
        description="rTMS targets",
    )
    found = [done for done in reused if done is not None] + list(results)
    targets = pd.DataFrame(found).sort_values("participant_id").reset_index(drop=True)
    millimetres = ["x", "y", "z", "split_half_distance"]
    millimetres += [c for c in targets.columns if c.startswith("distance_")]
    targets[millimetres] = targets[millimetres].round(1)
    targets[["correlation", "peak_correlation"]] = targets[
        ["correlation", "peak_correlation"]
    ].round(3)
    targets["note"] = NOTICE
    # Not staged as a whole: the maps and the cache of finished participants stay in place
    # (an interrupted run resumes from them); the table and provenance appear together.
    with staged_folder(out_dir) as stage:
        _write_table_and_provenance(targets, stage, settings, manifest_path)
    return {"targets": targets}


def _write_table_and_provenance(
    targets: Any, out_dir: Path, settings: TmsTargetSettings, manifest_path: Path
) -> None:
    from sfckit.features.tms import NOTICE
    from sfckit.io.outputs import write_tsv

    write_tsv(targets, out_dir / layout.TMS_TARGETS)
    write_provenance(
        out_dir,
        "tms-target",
        settings,
        [manifest_path],
        method={
            "seed": "mean band-passed series of the seed (sgACC sphere or user mask)",
            "search_region": "left DLPFC: 20-mm spheres around the Fox 2012 target, BA9, BA46 "
            "and the 5-cm-rule site, left hemisphere (or user mask)",
            "cluster_rule": "search voxels in the lowest fraction of seed correlations, "
            "26-connected clusters, the one with the largest summed anticorrelation, its "
            "anticorrelation-weighted centre",
            "notice": NOTICE,
        },
    )


def summary(result: dict[str, Any], settings: TmsTargetSettings, out: Path) -> list[str]:
    """What the command line prints."""
    from sfckit.features.tms import NOTICE

    targets = result["targets"]
    reliable = int(targets["reliable"].sum())
    return [
        f"{len(targets)} participant(s): {reliable} target(s) reproducible within "
        f"{settings.reliable_distance:g} mm between the halves of the run",
        NOTICE,
        f"targets: {out / layout.TMS_TARGETS}",
    ]


STEP = Step(
    name="tms-target",
    help="individual left-DLPFC rTMS targets anticorrelated with the subgenual ACC",
    settings=TmsTargetSettings,
    inputs=(PathOption("manifest", "the manifest (bold runs in MNI space)"),),
    output=OUT_FOLDER,
    outputs=layout.TMS_FILES,
    run=run,
    summary=summary,
    parallel=True,
    study=StudyRole(plan_once(lambda results: results.tms, inputs="manifest")),
    sections=(
        Section(
            "tms",
            "Where to stimulate? Individual rTMS targets",
            lazy_function("sfckit.report.tms:tms_blocks"),
            "tms/targets.tsv",
        ),
    ),
    methods=Prose("TMS targets", lazy_function("sfckit.report.tms:tms_methods")),
    results=Prose("TMS targets", lazy_function("sfckit.report.tms:tms_results")),
)
