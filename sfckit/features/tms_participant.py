"""One participant's rTMS target: what a ``tms-target`` worker runs.

The seed and search masks on a run's grid (built once per grid and worker), the run's brain
(its fMRIPrep mask, else the shipped MNI152 template's), the target found by
:func:`sfckit.features.tms.find_target` with its seed-correlation map, and the
per-participant cache (:mod:`sfckit.io.cache`) that lets an interrupted run resume. The
cohort step, its table and provenance are :mod:`sfckit.steps.tms_target`.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from scipy import ndimage

from sfckit.declarations import layout
from sfckit.declarations.settings import TmsTargetSettings
from sfckit.errors import UserError, file_error
from sfckit.features import tms
from sfckit.features.participant import resolve_tr
from sfckit.io.atlases import Atlas
from sfckit.io.cache import entry_name, load_json, stamps, store_json
from sfckit.io.images import Grid, load_data, load_image, stream_voxels
from sfckit.io.outputs import parameters_hash, save_nifti
from sfckit.version import environment_record


def masks_on_grid(grid_affine, shape, settings: TmsTargetSettings):
    """Voxel coordinates, seed and search masks on a run's grid, built (and user masks read)
    once per grid and worker process, not once per participant; read-only."""
    return _cached_masks(
        grid_affine.tobytes(),
        tuple(int(n) for n in shape),
        settings.seed_mask,
        settings.search_mask,
        tuple(settings.seed_coordinate),
        settings.seed_radius,
    )


@lru_cache(maxsize=4)
def _cached_masks(affine_bytes, shape, seed_mask, search_mask, seed_coordinate, seed_radius):
    grid_affine = np.frombuffer(affine_bytes, dtype=float).reshape(4, 4)
    coordinates = tms.voxel_coordinates(grid_affine, shape)

    def user_mask(path: str, role: str):
        image = load_image(path, ndim=3, role=role)
        if image.shape[:3] != tuple(shape) or not np.allclose(image.affine, grid_affine):
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
    template = template_brain(grid_affine, shape)
    for array in (coordinates, seed, search, template):
        array.setflags(write=False)
    return coordinates, seed, search, template


TEMPLATE_MARGIN_MM = 8.0


TEMPLATE_BRAIN = "mni152_brain_mask_2mm.nii.gz"  # in sfckit/data


def template_brain(grid_affine, shape):
    """The MNI152 brain mask on the run's grid (nearest), dilated by TEMPLATE_MARGIN_MM.

    The mask is nilearn's ``load_mni152_brain_mask(resolution=2)``, shipped in sfckit/data
    (30 KB; tested equal to nilearn's): building it resamples nilearn's 1 mm template after
    importing ``nilearn.datasets``, which took 4 of the 5 seconds of a one-participant run.
    """
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


def target_key(row: dict, settings: TmsTargetSettings) -> str:
    """What a participant's target depends on: the run (path, size, modification time),
    the TR, every setting and any user mask, and the versions of sfckit and its libraries."""
    return parameters_hash(
        {
            "participant_id": row["participant_id"],
            "tr": row.get("tr"),
            "files": stamps((row["bold"], settings.seed_mask, settings.search_mask)),
            "settings": settings.model_dump(mode="json"),
            "environment": environment_record(),
        }
    )


def _entry(cache: Path, participant_id: str) -> Path:
    return cache / entry_name(participant_id, suffix=".json")


def cached_target(row: dict, key: str, cache: Path, out_dir: Path) -> dict | None:
    """The stored target of a finished participant, if it was stored under ``key`` (same
    inputs and settings) and its map is still there; ``None`` otherwise (also for a damaged
    entry)."""
    result = load_json(_entry(cache, row["participant_id"]), key)
    try:
        return result if (out_dir / result["map"]).is_file() else None
    except (KeyError, TypeError):
        return None


def cached_participant_target(
    row: dict, key: str, settings: TmsTargetSettings, maps: Path, cache: Path
) -> dict:
    """One participant's target, stored in ``cache`` under ``key`` as soon as it is found,
    so that an interrupted run resumes without recomputing it (what a worker runs)."""
    result = participant_target(row, settings, maps)
    store_json(_entry(cache, row["participant_id"]), key, result)
    return result


def participant_target(row: dict, settings: TmsTargetSettings, maps: Path) -> dict:
    """One participant's target and its seed-correlation map (written into ``maps``)."""
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
    coordinates, seed, search, template = masks_on_grid(image.affine, shape, settings)
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
