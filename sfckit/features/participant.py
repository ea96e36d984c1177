"""One participant's extraction: the work a worker process does (loaded by every worker).

Reads the participant's images, computes regional SFC, GMV and mALFF (and, for the
searchlight method, writes the voxel map), and caches the result atomically. Kept apart
from the cohort step (``extract.py``) and free of pandas and scipy.stats at import time, so
that starting a worker costs as little as possible.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nibabel as nib
import numpy as np

from sfckit.errors import SparseRegionWarning, UserError, file_error
from sfckit.features.alff import alff as alff_kernel
from sfckit.features.alff import band_problem
from sfckit.features.coupling import coupling
from sfckit.features.denoise import censoring_mask, clean_timeseries, nuisance_matrix
from sfckit.features.methods import METHODS
from sfckit.features.regional import grouped_mean, region_positions, regional_mean
from sfckit.features.searchlight import sphere_footprint
from sfckit.io.cache import entry_name, file_stamp, store
from sfckit.io.images import (
    Grid,
    check_same_grid,
    load_data,
    load_header,
    load_image,
    repetition_time,
    stream_voxels,
)
from sfckit.io.manifest import run_rows, runs_of
from sfckit.io.motion import mean_framewise_displacement, non_steady_state_mask, pooled_mean
from sfckit.io.outputs import file_sha256, save_nifti
from sfckit.io.tables import read_confounds

if TYPE_CHECKING:
    from sfckit.declarations.settings import ExtractionParameters


@dataclass
class ParticipantFeatures:
    """One participant's regional features."""

    participant_id: str
    sfc: np.ndarray
    gmv: np.ndarray
    alff: np.ndarray
    n_valid: np.ndarray
    checksums: dict[str, str] = field(default_factory=dict)
    n_gm_voxels: int = 0
    atlas_overlap: float = float("nan")
    n_volumes_kept: int = -1
    n_censored: int = -1
    n_non_steady_state: int = -1
    mean_fd: float = float("nan")
    n_fd_volumes: int = -1


def load_gray_matter(
    row: dict[str, Any],
    *,
    grid: Grid,
    parameters: ExtractionParameters,
    user_mask: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A participant's GMV volume on the cohort grid and its gray-matter mask.

    The mask is ``GMV > gm_threshold`` (and ``user_mask``); with ``resample_to="functional"``
    the map is first resampled (linear) onto the functional grid.
    """
    gmv_path = row["gmv"]
    gmv_image = load_image(gmv_path, ndim=3, role="gmv")
    if parameters.resample_to == "functional" and not Grid.of(gmv_image).matches(grid):
        from nilearn.image import resample_img

        gmv_image = resample_img(
            gmv_image,
            target_affine=grid.affine,
            target_shape=grid.shape,
            interpolation="continuous",
            force_resample=True,
            copy_header=True,
        )
    check_same_grid(grid, "the cohort's first image", Grid.of(gmv_image), gmv_path)
    gmv = load_data(gmv_image, gmv_path, role="gmv")
    _check_informative(gmv, gmv_path, "gmv")
    mask = np.isfinite(gmv) & (gmv > parameters.gm_threshold)
    if user_mask is not None:
        mask &= user_mask
    if not mask.any():
        raise file_error(
            gmv_path,
            f"no voxel exceeds the gray-matter threshold {parameters.gm_threshold}",
            expected="a modulated gray-matter map with values around 0-1",
            fix="check the image, or lower --gm-threshold",
        )
    return gmv, mask


def load_functional(
    row: dict[str, Any], *, mask: np.ndarray, grid: Grid, parameters: ExtractionParameters
) -> tuple[np.ndarray, VolumeCounts, np.ndarray | None, dict[str, str]]:
    """ALFF in the mask voxels: computed from the BOLD run(s), or read from an ALFF map.

    Returns
    -------
    alff : ndarray
        One value per mask voxel.
    volumes : VolumeCounts
        Volumes kept, censored and dropped as non-steady-state (-1 for ALFF maps), and
        the mean framewise displacement of the run(s) (:mod:`sfckit.io.motion`).
    timeseries : ndarray or None
        The mask voxels' BOLD time series (volumes x voxels) when computed from BOLD.
    sha256 : dict
        Each BOLD run's SHA-256, computed while it was read (empty for ALFF maps).
    """
    functional_path = row[row["functional"]]
    if row["functional"] == "bold":
        rows = run_rows(row)
        runs = [_alff_from_bold(run, mask, grid, parameters) for run in rows]
        digests = {str(run["bold"]): result[3] for run, result in zip(rows, runs, strict=True)}
        if len(runs) == 1:
            return runs[0][0], runs[0][1], runs[0][2], digests
        return (
            *combine_runs([(values, volumes, series) for values, volumes, series, _ in runs]),
            digests,
        )
    if METHODS[parameters.method].needs_bold:
        raise file_error(
            functional_path,
            f"the {parameters.method} method needs BOLD runs, not ALFF maps",
            fix="give a 'bold' column in the manifest or choose another --method",
        )
    alff_image = load_image(functional_path, ndim=3, role="alff")
    check_same_grid(grid, row["gmv"], Grid.of(alff_image), functional_path)
    alff_map = load_data(alff_image, functional_path, role="alff")
    _check_informative(alff_map, functional_path, "alff")
    return alff_map[mask], VolumeCounts(), None, {}


def combine_runs(
    runs: list[tuple[np.ndarray, VolumeCounts, np.ndarray]],
) -> tuple[np.ndarray, VolumeCounts, np.ndarray]:
    """One participant's several runs as one: ALFF averaged with weights equal to each run's
    kept volumes (a run's ALFF is a mean over its spectrum, whose precision grows with its
    length), volume counts summed, mean FD pooled over the runs' FD values, and the time
    series concatenated after z-scoring each
    voxel within each run (for methods that need the series, e.g. profile), so that
    differences in run means or scales do not enter the correlations."""
    weights = np.array([volumes.kept for _, volumes, _ in runs], dtype=float)
    values = np.stack([alff for alff, _, _ in runs])
    alff = (weights[:, None] * values).sum(axis=0) / weights.sum()
    total = VolumeCounts(
        kept=sum(v.kept for _, v, _ in runs),
        censored=sum(max(v.censored, 0) for _, v, _ in runs),
        non_steady_state=sum(max(v.non_steady_state, 0) for _, v, _ in runs),
        **_pooled_fd([v for _, v, _ in runs]),
    )
    standardised = []
    for _, _, series in runs:
        sd = series.std(axis=0)
        standardised.append(
            np.divide(series - series.mean(axis=0), sd, out=np.zeros_like(series), where=sd > 0)
        )
    return alff, total, np.concatenate(standardised, axis=0)


def extract_participant(
    row: dict[str, Any],
    *,
    labels: np.ndarray,
    regions: np.ndarray,
    region_names: list[str],
    grid: Grid,
    parameters: ExtractionParameters,
    user_mask: np.ndarray | None = None,
    map_dir: str | None = None,
) -> ParticipantFeatures:
    """Load one participant's images and compute regional SFC, GMV and mALFF.

    Parameters
    ----------
    row : dict
        A manifest row (``participant_id``, ``gmv``, ``functional``, ``bold``/``alff``, ``tr``).
    labels : ndarray of int, 3-D
        Atlas labels on the image grid.
    regions, region_names
        Label values and names to report, in output order.
    grid : Grid
        The cohort's voxel grid.
    parameters : ExtractionParameters
        Method, thresholds and band.
    user_mask : ndarray of bool, optional
        Restricts the gray-matter mask.
    map_dir : str, optional
        Where the searchlight method writes the participant's voxel map (its regional SFC
        is then the mean of the map over each region).
    """
    gmv_path = row["gmv"]
    gmv, mask = load_gray_matter(row, grid=grid, parameters=parameters, user_mask=user_mask)
    functional_path = row[row["functional"]]
    alff_values, volumes, timeseries, bold_sha256s = load_functional(
        row, mask=mask, grid=grid, parameters=parameters
    )
    gmv_values = gmv[mask].astype(np.float64)
    alff_values = alff_values.astype(np.float64)
    usable = np.isfinite(alff_values) & (alff_values != 0)
    if not usable.any():
        raise file_error(
            functional_path,
            "ALFF is zero or not finite in every gray-matter voxel",
            fix="check that the functional image covers the brain and is in the GMV's space",
        )
    voxel_labels = labels[mask][usable]
    gmv_values, alff_values = gmv_values[usable], alff_values[usable]
    malff = alff_values / alff_values.mean()
    method = METHODS[parameters.method]
    if method.kind == "network":
        sfc, n_valid = method.function(
            gmv_values, timeseries[:, usable], voxel_labels, regions, parameters.min_voxels
        )
    elif method.kind == "map":
        usable_mask = np.zeros_like(mask)
        usable_mask[mask] = usable
        alff_volume = np.zeros(mask.shape)
        alff_volume[usable_mask] = alff_values
        z, _ = method.function(
            gmv=gmv,
            alff=alff_volume,
            mask=usable_mask,
            footprint=sphere_footprint(grid.affine, parameters.radius),
            min_voxels=parameters.min_voxels,
        )
        save_nifti(
            nib.Nifti1Image(z, grid.affine),
            Path(map_dir or ".") / searchlight_map_name(row["participant_id"]),
        )
        positions = region_positions(voxel_labels, regions)
        sfc = grouped_mean(z[usable_mask], positions, len(regions))
        finite = np.isfinite(z[usable_mask]) & (positions >= 0)
        n_valid = np.bincount(positions[finite], minlength=len(regions))
    else:
        sfc, n_valid = _voxel_coupling(
            gmv_values, alff_values, voxel_labels, regions, region_names, parameters
        )
    del timeseries
    inputs = [gmv_path, *runs_of(functional_path)]
    if row["functional"] == "bold":
        inputs += [c for c in runs_of(row.get("confounds")) if Path(c).is_file()]
    known = {path: digest for path, digest in bold_sha256s.items() if digest}
    checksums = {str(p): known.get(str(p)) or file_sha256(p) for p in inputs}
    atlas_voxels = np.isin(labels, regions)
    return ParticipantFeatures(
        participant_id=row["participant_id"],
        sfc=sfc,
        gmv=regional_mean(values=gmv_values, labels=voxel_labels, regions=regions),
        alff=regional_mean(values=malff, labels=voxel_labels, regions=regions),
        n_valid=n_valid,
        checksums=checksums,
        n_gm_voxels=int(usable.sum()),
        atlas_overlap=float(np.isin(voxel_labels, regions).sum() / max(atlas_voxels.sum(), 1)),
        n_volumes_kept=volumes.kept,
        n_censored=volumes.censored,
        n_non_steady_state=volumes.non_steady_state,
        mean_fd=volumes.mean_fd,
        n_fd_volumes=volumes.n_fd,
    )


def _pooled_fd(volumes: list[VolumeCounts]) -> dict[str, float | int]:
    """The runs' mean FD as one (-1 values: no run had confounds)."""
    known = [(v.mean_fd, v.n_fd) for v in volumes if v.n_fd >= 0]
    if not known:
        return {}
    mean_fd, n_fd = pooled_mean(known)
    return {"mean_fd": mean_fd, "n_fd": n_fd}


def _voxel_coupling(gmv_values, alff_values, voxel_labels, regions, region_names, parameters):
    with warnings.catch_warnings():
        # Sparse regions are reported once for the whole cohort, not per participant.
        warnings.simplefilter("ignore", SparseRegionWarning)
        return coupling(
            gmv=gmv_values,
            alff=alff_values,
            labels=voxel_labels,
            regions=regions,
            region_names=region_names,
            method=parameters.method,
            min_voxels=parameters.min_voxels,
        )


def _check_informative(data: np.ndarray, path: str, role: str) -> None:
    finite = np.isfinite(data)
    if not finite.any():
        raise file_error(
            path,
            f"the {role} image contains only NaN/inf values",
            fix="re-create the image; it holds no data",
        )
    if not np.any(finite & (data != 0)):
        raise file_error(
            path, f"the {role} image is all zeros", fix="re-create the image; it holds no data"
        )


@dataclass(frozen=True)
class VolumeCounts:
    """What happened to a BOLD run's volumes (-1: not from BOLD, or not known), and its
    mean framewise displacement over ``n_fd`` values (:mod:`sfckit.io.motion`; -1 without
    a confounds file, 0 when it has no ``framewise_displacement`` column)."""

    kept: int = -1
    censored: int = -1
    non_steady_state: int = -1
    mean_fd: float = float("nan")
    n_fd: int = -1


def _alff_from_bold(
    row: dict[str, Any], mask: np.ndarray, grid: Grid, parameters: ExtractionParameters
) -> tuple[np.ndarray, VolumeCounts, np.ndarray, str]:
    """ALFF of the gray-matter voxels of a BOLD run (non-steady-state volumes dropped,
    denoised/censored on request), what happened to the volumes, and the kept (time x
    voxels) series."""
    path = row["bold"]
    image = load_image(path, ndim=4, role="bold")
    check_same_grid(grid, "the participant's GMV map", Grid.of(image), path)
    tr = resolve_tr(path, image, row.get("tr"))
    problem = band_problem(image.shape[3], tr=tr, band=parameters.band)
    if problem:
        raise file_error(path, problem, fix="use a longer run or adjust --band")
    # (time, gray-matter voxels), and the file's SHA-256 from the same single read
    timeseries, digest = stream_voxels(image, path, mask, role="bold")
    keep = np.ones(image.shape[3], dtype=bool)
    confounds_path = row.get("confounds")
    if parameters.needs_confounds and not confounds_path:
        raise file_error(
            path,
            "--denoise/--fd-threshold need the run's confounds file",
            fix="add a 'confounds' column to the manifest (sfckit manifest fills it from fMRIPrep)",
        )
    table = read_confounds(confounds_path, n_volumes=image.shape[3]) if confounds_path else None
    n_steady = n_censored = n_fd = -1
    fd_keep, mean_fd = None, float("nan")
    if table is not None:
        unsteady = non_steady_state_mask(table)
        n_steady = int(unsteady.sum()) if parameters.non_steady_state == "drop" else 0
        if n_steady:
            # fMRIPrep flags the run's first volumes: removing them keeps the sampling
            # regular; a flagged volume later in the run (rare) is censored instead
            leading = int(np.argmin(unsteady)) if not unsteady.all() else len(unsteady)
            timeseries, table = timeseries[leading:], table.iloc[leading:].reset_index(drop=True)
            keep = ~unsteady[leading:]
            problem = band_problem(int(keep.sum()), tr=tr, band=parameters.band)
            if problem:
                raise file_error(
                    path,
                    f"after dropping {n_steady} non-steady-state volume(s): {problem}",
                    fix="use a longer run, or --non-steady-state keep",
                )
        # mean FD over the volumes analysed before censoring (see sfckit.io.motion)
        mean_fd, n_fd = mean_framewise_displacement(table, volumes=keep)
        fd_keep = censoring_mask(table, parameters.fd_threshold, confounds_path)
        n_censored = int((~fd_keep).sum())  # 0 without a threshold (every volume kept)
    if parameters.needs_confounds:
        keep &= fd_keep
        problem = band_problem(int(keep.sum()), tr=tr, band=parameters.band)
        if problem:
            error = file_error(
                path,
                f"after censoring at FD > {parameters.fd_threshold} mm: {problem}",
                fix="raise --fd-threshold, or exclude the participant (e.g. --exclude-qc "
                "'mean_fd>0.5', which applies to such a run before this check)",
            )
            error.motion = {  # what qc.tsv records of the run; see Failure.motion
                "mean_fd": mean_fd,
                "n_fd_volumes": n_fd,
                "n_censored": n_censored,
                "n_non_steady_state": n_steady,
                "n_volumes_kept": int(keep.sum()),
            }
            raise error
        timeseries = clean_timeseries(
            timeseries,
            confounds=nuisance_matrix(table, parameters.denoise, confounds_path),
            keep=keep,
            tr=tr,
        )
    values, _ = alff_kernel(
        timeseries,
        tr=tr,
        band=parameters.band,
        sample_mask=None if keep.all() else keep,
        convention=parameters.alff_convention,
    )

    if not np.any(np.isfinite(values) & (values != 0)):
        raise file_error(
            path,
            "the bold image has no signal (all zeros, constant or NaN) in the gray-matter voxels",
            fix="re-create the image; it holds no data",
        )
    volumes = VolumeCounts(
        kept=int(keep.sum()),
        censored=n_censored,
        non_steady_state=n_steady,
        mean_fd=mean_fd,
        n_fd=n_fd,
    )
    return values, volumes, (timeseries if keep.all() else timeseries[keep]), digest


def resolve_tr(path: str, image: Any, tr: float | None) -> float:
    """The manifest's TR when given, else the header's (a UserError when neither)."""
    if tr is not None and np.isfinite(tr):
        return float(tr)
    header_tr = repetition_time(image)
    if header_tr is None:
        raise file_error(
            path,
            "the BOLD header has no repetition time",
            expected="a TR in the NIfTI header or a 'tr' column in the manifest",
            fix="add a 'tr' column (seconds) to the manifest",
        )
    return header_tr


def searchlight_map_name(participant_id: str) -> str:
    """File name of a participant's searchlight map (BIDS-like, made file-system safe)."""
    if re.fullmatch(r"[A-Za-z0-9_.-]{1,60}", participant_id):
        return f"{participant_id}_desc-searchlight_sfc.nii.gz"
    return entry_name(participant_id, suffix="") + "_desc-searchlight_sfc.nii.gz"


def participant_key(row: dict[str, Any], run_hash: str) -> str:
    parts = [run_hash, row["participant_id"], str(row.get("tr"))]
    columns = ["gmv", row["functional"]]
    if row["functional"] == "bold" and row.get("confounds"):
        columns.append("confounds")
    for column in columns:
        for value in runs_of(row[column]):
            path = Path(value)
            if column == "confounds" and not path.exists():
                continue  # a confounds file that is not there is not an input
            size, modified = file_stamp(path)
            parts += [column, str(path), str(size), str(modified)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _cached_task(
    row: dict[str, Any], cache_file: str, key: str, context: dict[str, Any]
) -> ParticipantFeatures:
    """Compute one participant and store the result atomically in ``cache_file``."""
    result = extract_participant(row, **context)
    about = {
        "key": key,
        "participant_id": result.participant_id,
        "checksums": result.checksums,
        "n_gm_voxels": result.n_gm_voxels,
        "atlas_overlap": result.atlas_overlap,
        "n_volumes_kept": result.n_volumes_kept,
        "n_censored": result.n_censored,
        "n_non_steady_state": result.n_non_steady_state,
        "mean_fd": result.mean_fd,
        "n_fd_volumes": result.n_fd_volumes,
    }
    # Three members, assembled in memory and written with one call: each .npz member and
    # each small write costs tens of microseconds, a noticeable share of a small participant.
    entry = io.BytesIO()
    np.savez(
        entry,
        regional=np.vstack([result.sfc, result.gmv, result.alff]),
        n_valid=result.n_valid,
        about=np.array(json.dumps(about)),
    )
    store(cache_file, entry.getbuffer())
    return result


def load_cached(cache_file: Path, key: str) -> ParticipantFeatures | None:
    """The cached features in ``cache_file`` when its key is ``key``; ``None`` when the
    entry is missing, stale, from an older sfckit, or damaged (then it is recomputed)."""
    if not cache_file.is_file():
        return None
    try:
        with np.load(cache_file) as stored:
            about = json.loads(str(stored["about"]))
            if about["key"] != key:
                return None
            sfc, gmv, alff = stored["regional"]
            return ParticipantFeatures(
                participant_id=about["participant_id"],
                sfc=sfc,
                gmv=gmv,
                alff=alff,
                n_valid=stored["n_valid"],
                checksums=about["checksums"],
                n_gm_voxels=about["n_gm_voxels"],
                atlas_overlap=about["atlas_overlap"],
                n_volumes_kept=about["n_volumes_kept"],
                n_censored=about["n_censored"],
                n_non_steady_state=about["n_non_steady_state"],
                mean_fd=about["mean_fd"],  # absent from older entries: recomputed
                n_fd_volumes=about["n_fd_volumes"],
            )
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
        return None  # unreadable, damaged or old-format entry: recompute


def check_participant_images(
    row: dict[str, Any],
    grid: Grid | None,
    reference: str,
    band: tuple[float, float],
    resample_to: str = "none",
) -> Grid:
    """Read one participant's image headers: dimensionality, shared grid, TR, run length.

    Returns the participant's analysis grid: its GMV map's, or with
    ``resample_to="functional"`` its functional image's (the GMV map is then resampled).
    """
    own, own_path = None, ""
    columns = ("gmv", row["functional"]) if resample_to == "none" else (row["functional"], "gmv")
    for column in columns:
        for path in runs_of(row[column]):
            image = load_header(path, ndim=4 if column == "bold" else 3, role=column)
            if column == "gmv" and resample_to == "functional":
                continue  # resampled onto the functional grid at extraction
            if own is None:
                own, own_path = Grid.of(image), path
            check_same_grid(grid or own, reference if grid else own_path, Grid.of(image), path)
            if column == "bold":
                tr = resolve_tr(path, image, row.get("tr"))
                problem = band_problem(image.shape[3], tr=tr, band=band)
                if problem:
                    raise file_error(path, problem, fix="use a longer run or adjust --band")
    return own


@dataclass
class Failure:
    """A participant that could not be extracted, and why."""

    participant_id: str
    error: UserError

    @property
    def reason(self) -> str:
        return str(self.error)

    @property
    def motion(self) -> dict[str, float] | None:
        """The run's motion summary when censoring left too few volumes (the error then
        waits for the QC rules: a participant they exclude for motion is excluded, not
        failed), else None."""
        return getattr(self.error, "motion", None)


def batch_task(
    items: list[tuple[dict[str, Any], str, str]],
    context: dict[str, Any],
    keep_going: bool,
    stop_file: str,
) -> list[ParticipantFeatures | Failure]:
    """Extract a batch of participants; a bad participant becomes a :class:`Failure`.

    Stops early when ``stop_file`` exists: the cohort step creates it to cancel the run (a
    cooperative stop, because cancelling worker processes from outside is not reliable).
    Without ``keep_going`` a failure creates it, so the other workers stop too.
    """
    outcomes: list[ParticipantFeatures | Failure] = []
    context = dict(context)
    qc_rules = context.pop("qc_rules", False)
    for row, cache_file, key in items:
        if os.path.exists(stop_file):
            break
        try:
            outcomes.append(_cached_task(row, cache_file, key, context))
        except UserError as error:
            failure = Failure(row["participant_id"], error)
            outcomes.append(failure)
            if failure.motion is not None and qc_rules:
                continue  # the QC rules decide after the cohort (see extraction)
            if not keep_going:
                Path(stop_file).touch()
                break
    return outcomes
