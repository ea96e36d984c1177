"""Per-participant feature extraction (I/O wrapper around the pure kernels) and the
cohort step that writes ``sfc.tsv``, ``gmv.tsv``, ``alff.tsv`` and ``regions.tsv``.

Gray-matter mask: voxels whose GMV exceeds ``gm_threshold`` (and that lie inside the user
mask, when one is given) and whose ALFF is finite and non-zero.
Regional ALFF is mALFF: ALFF divided by the participant's mean ALFF over that mask.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd

from sfckit.engine import run_tasks
from sfckit.errors import SparseRegionWarning, UserError, file_error
from sfckit.features.alff import alff as alff_kernel
from sfckit.features.alff import band_problem
from sfckit.features.coupling import METHODS, coupling
from sfckit.features.denoise import (
    censoring_mask,
    clean_timeseries,
    nuisance_matrix,
    read_confounds,
)
from sfckit.features.parameters import (
    PROFILE,
    SEARCHLIGHT,
    ExtractionParameters,
)
from sfckit.features.profile import participant_profile_coupling
from sfckit.features.qc import apply_rules, parse_rules, qc_table
from sfckit.features.regional import region_positions, regional_mean
from sfckit.features.searchlight import searchlight_coupling, sphere_footprint
from sfckit.io.atlases import Atlas
from sfckit.io.images import (
    Grid,
    check_same_grid,
    load_data,
    load_image,
    repetition_time,
    stream_voxels,
)
from sfckit.io.manifest import Cohort
from sfckit.io.outputs import (
    atomic_write,
    file_sha256,
    parameters_hash,
    save_nifti,
    write_dataset_description,
    write_tsv,
)

FEATURE_TABLES = {"sfc": "sfc.tsv", "gmv": "gmv.tsv", "alff": "alff.tsv"}
CACHE_FOLDER = ".sfckit-cache"


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
) -> tuple[np.ndarray, int, np.ndarray | None]:
    """ALFF in the mask voxels: computed from the BOLD run, or read from an ALFF map.

    Returns
    -------
    alff : ndarray
        One value per mask voxel.
    n_volumes_kept : int
        Volumes left after censoring (-1 for ALFF maps).
    timeseries : ndarray or None
        The mask voxels' BOLD time series (volumes x voxels) when computed from BOLD.
    """
    functional_path = row[row["functional"]]
    if row["functional"] == "bold":
        return _alff_from_bold(row, mask, grid, parameters)
    if parameters.method == PROFILE:
        raise file_error(
            functional_path,
            "the profile method needs BOLD runs, not ALFF maps",
            fix="give a 'bold' column in the manifest or choose another --method",
        )
    alff_image = load_image(functional_path, ndim=3, role="alff")
    check_same_grid(grid, row["gmv"], Grid.of(alff_image), functional_path)
    alff_map = load_data(alff_image, functional_path, role="alff")
    _check_informative(alff_map, functional_path, "alff")
    return alff_map[mask], -1, None


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
    alff_values, n_volumes_kept, timeseries = load_functional(
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
    if parameters.method == PROFILE:
        sfc, n_valid = participant_profile_coupling(
            gmv_values, timeseries[:, usable], voxel_labels, regions, parameters.min_voxels
        )
    elif parameters.method == SEARCHLIGHT:
        usable_mask = np.zeros_like(mask)
        usable_mask[mask] = usable
        alff_volume = np.zeros(mask.shape)
        alff_volume[usable_mask] = alff_values
        z, _ = searchlight_coupling(
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
        sfc = regional_mean(values=z[usable_mask], labels=voxel_labels, regions=regions)
        positions = region_positions(voxel_labels, regions)
        finite = np.isfinite(z[usable_mask]) & (positions >= 0)
        n_valid = np.bincount(positions[finite], minlength=len(regions))
    else:
        sfc, n_valid = _voxel_coupling(
            gmv_values, alff_values, voxel_labels, regions, region_names, parameters
        )
    del timeseries
    inputs = [gmv_path, functional_path]
    if row["functional"] == "bold" and parameters.needs_confounds:
        inputs.append(row["confounds"])
    checksums = {str(p): file_sha256(p) for p in inputs}
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
        n_volumes_kept=n_volumes_kept,
    )


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
    if not np.any(data[finite] != 0):
        raise file_error(
            path, f"the {role} image is all zeros", fix="re-create the image; it holds no data"
        )


def _alff_from_bold(
    row: dict[str, Any], mask: np.ndarray, grid: Grid, parameters: ExtractionParameters
) -> tuple[np.ndarray, int, np.ndarray]:
    """ALFF of the gray-matter voxels of a BOLD run (denoised/censored on request), the
    number of volumes kept, and the kept (time x voxels) series."""
    path = row["bold"]
    image = load_image(path, ndim=4, role="bold")
    check_same_grid(grid, "the participant's GMV map", Grid.of(image), path)
    tr = _resolve_tr(path, image, row.get("tr"))
    problem = band_problem(image.shape[3], tr=tr, band=parameters.band)
    if problem:
        raise file_error(path, problem, fix="use a longer run or adjust --band")
    timeseries = stream_voxels(image, path, mask, role="bold")  # (time, gray-matter voxels)
    keep = np.ones(image.shape[3], dtype=bool)
    if parameters.needs_confounds:
        confounds_path = row.get("confounds")
        if not confounds_path:
            raise file_error(
                path,
                "--denoise/--fd-threshold need the run's confounds file",
                fix="add a 'confounds' column to the manifest (sfckit manifest "
                "fills it from fMRIPrep)",
            )
        table = read_confounds(confounds_path, image.shape[3])
        keep = censoring_mask(table, parameters.fd_threshold, confounds_path)
        problem = band_problem(int(keep.sum()), tr=tr, band=parameters.band)
        if problem:
            raise file_error(
                path,
                f"after censoring at FD > {parameters.fd_threshold} mm: {problem}",
                fix="raise --fd-threshold or exclude the participant",
            )
        timeseries = clean_timeseries(
            timeseries,
            confounds=nuisance_matrix(table, parameters.denoise, confounds_path),
            keep=keep,
            tr=tr,
        )
    values, _ = alff_kernel(
        timeseries, tr=tr, band=parameters.band, sample_mask=None if keep.all() else keep
    )

    if not np.any(np.isfinite(values) & (values != 0)):
        raise file_error(
            path,
            "the bold image has no signal (all zeros, constant or NaN) in the gray-matter voxels",
            fix="re-create the image; it holds no data",
        )
    return values, int(keep.sum()), (timeseries if keep.all() else timeseries[keep])


def _resolve_tr(path: str, image: Any, tr: float | None) -> float:
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
    return _safe_name(participant_id).removesuffix(".npz") + "_desc-searchlight_sfc.nii.gz"


def _safe_name(participant_id: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", participant_id)[:60]
    return f"{stem}-{hashlib.sha1(participant_id.encode()).hexdigest()[:10]}.npz"


def _participant_key(row: dict[str, Any], run_hash: str) -> str:
    parts = [run_hash, row["participant_id"], str(row.get("tr"))]
    columns = ["gmv", row["functional"]]
    if row["functional"] == "bold" and row.get("confounds") and Path(row["confounds"]).exists():
        columns.append("confounds")
    for column in columns:
        path = Path(row[column])
        stat = path.stat()
        parts += [column, str(path), str(stat.st_size), str(stat.st_mtime_ns)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _cached_task(
    row: dict[str, Any], cache_file: str, key: str, context: dict[str, Any]
) -> ParticipantFeatures:
    """Compute one participant and store the result atomically in ``cache_file``."""
    result = extract_participant(row, **context)
    with atomic_write(cache_file, "wb") as handle:
        np.savez(
            handle,
            key=key,
            participant_id=result.participant_id,
            sfc=result.sfc,
            gmv=result.gmv,
            alff=result.alff,
            n_valid=result.n_valid,
            checksum_paths=np.array(list(result.checksums), dtype=str),
            checksum_values=np.array(list(result.checksums.values()), dtype=str),
            n_gm_voxels=result.n_gm_voxels,
            atlas_overlap=result.atlas_overlap,
            n_volumes_kept=result.n_volumes_kept,
        )
    return result


def _load_cached(cache_file: Path, key: str) -> ParticipantFeatures | None:
    if not cache_file.is_file():
        return None
    try:
        with np.load(cache_file) as stored:
            if str(stored["key"]) != key:
                return None
            return ParticipantFeatures(
                participant_id=str(stored["participant_id"]),
                sfc=stored["sfc"],
                gmv=stored["gmv"],
                alff=stored["alff"],
                n_valid=stored["n_valid"],
                checksums=dict(
                    zip(
                        stored["checksum_paths"].tolist(),
                        stored["checksum_values"].tolist(),
                        strict=True,
                    )
                ),
                n_gm_voxels=int(stored["n_gm_voxels"]),
                atlas_overlap=float(stored["atlas_overlap"]),
                n_volumes_kept=int(stored["n_volumes_kept"]),
            )
    except (OSError, ValueError, KeyError):
        return None  # unreadable cache entry: recompute


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
        image = load_image(row[column], ndim=4 if column == "bold" else 3, role=column)
        if column == "gmv" and resample_to == "functional":
            continue  # resampled onto the functional grid at extraction
        if own is None:
            own, own_path = Grid.of(image), row[column]
        check_same_grid(grid or own, reference if grid else own_path, Grid.of(image), row[column])
        if column == "bold":
            tr = _resolve_tr(row[column], image, row.get("tr"))
            problem = band_problem(image.shape[3], tr=tr, band=band)
            if problem:
                raise file_error(row[column], problem, fix="use a longer run or adjust --band")
    return own


@dataclass
class Failure:
    """A participant that could not be extracted, and why."""

    participant_id: str
    reason: str


def _task(row, cache_file, key, context, keep_going):
    try:
        return _cached_task(row, cache_file, key, context)
    except UserError as error:
        if not keep_going:
            raise
        return Failure(row["participant_id"], str(error))


def _header_task(
    row: dict[str, Any], band: tuple[float, float], resample_to: str
) -> tuple[str, Grid | None, UserError | None]:
    try:
        return (
            row["participant_id"],
            check_participant_images(row, None, "", band, resample_to),
            None,
        )
    except UserError as error:
        return row["participant_id"], None, error


BATCHES_PER_WORKER = 16


def _batches(
    pending: list[tuple], context: dict[str, Any], keep_going: bool, jobs: int
) -> list[tuple]:
    """Group participants so the shared context (atlas labels, mask) is sent once per batch,
    not once per participant; each participant is still cached as soon as it is done."""
    if not pending:
        return []
    workers = 2 if jobs == -1 else max(jobs, 1)
    size = 1 if workers == 1 else max(1, -(-len(pending) // (workers * BATCHES_PER_WORKER)))
    return [(pending[i : i + size], context, keep_going) for i in range(0, len(pending), size)]


def _batch_task(items: list[tuple], context: dict[str, Any], keep_going: bool) -> list:
    return [_task(row, cache_file, key, context, keep_going) for row, cache_file, key in items]


def extract_cohort(
    cohort: Cohort,
    out_dir: str | Path,
    *,
    atlas: Atlas,
    parameters: ExtractionParameters | None = None,
    jobs: int = 1,
    progress: bool = True,
    keep_going: bool = False,
    scheduler: str | None = None,
    log: Callable[[str], None] | None = None,
    exclude_qc: str | None = None,
) -> dict[str, pd.DataFrame]:
    """Extract regional features for every participant and write the feature tables.

    Finished participants are cached in ``out_dir/.sfckit-cache``; a rerun with the same
    inputs and parameters skips them and gives identical tables. Tables are written only
    at the end, each atomically.

    Parameters
    ----------
    cohort : Cohort
        The validated manifest.
    out_dir : str or Path
        Output folder.
    atlas : Atlas
        Regions to report.
    parameters : ExtractionParameters, optional
        Method, thresholds and band.
    jobs : int
        Worker processes (or Dask workers with ``scheduler="local-cluster"``).
    progress : bool
        Show a progress bar.
    keep_going : bool
        Record participants whose files are bad in ``failures.tsv`` (their rows are all
        missing) instead of stopping at the first.
    scheduler : str, optional
        ``"local-cluster"`` or a Dask scheduler address (``tcp://host:port``).
    log : callable, optional
        Receives progress lines (how many participants were reused).
    exclude_qc : str, optional
        Exclusion rules on ``qc.tsv`` columns (see :mod:`sfckit.features.qc`); excluded
        participants get empty rows and are listed in ``excluded.tsv``.

    Returns
    -------
    dict of DataFrame
        ``sfc``, ``gmv``, ``alff`` (participants x regions, with ``participant_id``),
        ``regions``, ``failures``, ``qc`` and ``excluded``.
    """
    parameters = (parameters or ExtractionParameters()).validate()
    rules = parse_rules(exclude_qc)
    out_dir = Path(out_dir)
    failures: dict[str, str] = {}
    grid = None
    reference = ""
    rows = cohort.table.to_dict("records")
    checked = {
        pid: (own, error)
        for pid, own, error in run_tasks(
            _header_task,
            [(row, parameters.band, parameters.resample_to) for row in rows],
            jobs=jobs,
            progress=progress,
            scheduler=scheduler,
            description="checking image headers",
        )
    }
    for row in rows:  # in manifest order, so the first problem reported is the first row's
        own, error = checked[row["participant_id"]]
        path = row["gmv"] if parameters.resample_to == "none" else row[row["functional"]]
        if error is None and grid is not None:
            try:
                check_same_grid(grid, reference, own, path)
            except UserError as mismatch:
                error = mismatch
        if error is not None:
            if not keep_going:
                raise error
            failures[row["participant_id"]] = str(error)
            continue
        if grid is None:
            grid, reference = own, path
    if grid is None:
        raise UserError(
            f"{cohort.path}: no participant's images could be read",
            fix="see failures above; check the image paths and files",
        )
    user_mask = _load_user_mask(parameters.gm_mask, grid)
    labels = atlas.labels_on(grid)
    regions = atlas.labels["index"].to_numpy()
    names = atlas.region_names
    parameter_record = {**asdict(parameters), "atlas": atlas.checksum}
    run_hash = parameters_hash(parameter_record)
    cache = out_dir / CACHE_FOLDER / run_hash[:16]
    cache.mkdir(parents=True, exist_ok=True)
    for stale in cache.glob(".*.tmp"):  # left by a killed run
        stale.unlink(missing_ok=True)
    context = {
        "labels": labels,
        "regions": regions,
        "region_names": names,
        "grid": grid,
        "parameters": parameters,
        "user_mask": user_mask,
        "map_dir": str(out_dir / "searchlight") if parameters.method == SEARCHLIGHT else None,
    }

    results: dict[str, ParticipantFeatures] = {}
    pending = []
    for row in rows:
        if row["participant_id"] in failures:
            continue
        cache_file = cache / _safe_name(row["participant_id"])
        key = _participant_key(row, run_hash)
        cached = _load_cached(cache_file, key)
        if cached is not None and context["map_dir"] is not None:
            map_path = Path(context["map_dir"]) / searchlight_map_name(row["participant_id"])
            cached = cached if map_path.is_file() else None
        if cached is not None:
            results[row["participant_id"]] = cached
        else:
            pending.append((row, str(cache_file), key))
    if log:
        log(
            f"extract: {len(results)} participant(s) reused from the cache, "
            f"{len(pending)} to compute"
        )
    for batch in run_tasks(
        _batch_task,
        _batches(pending, context, keep_going, jobs),
        jobs=jobs,
        progress=progress,
        scheduler=scheduler,
        description=f"extracting {len(pending)} participant(s)",
    ):
        for outcome in batch:
            if isinstance(outcome, Failure):
                failures[outcome.participant_id] = outcome.reason
            else:
                results[outcome.participant_id] = outcome
    if not results:
        raise UserError(
            f"{cohort.path}: every participant failed (see failures.tsv)",
            fix="correct the inputs listed in failures.tsv",
        )

    missing = np.full(len(regions), np.nan)
    ordered = [
        results.get(pid)
        or ParticipantFeatures(pid, missing, missing, missing, np.zeros(len(regions), dtype=int))
        for pid in cohort.participant_ids
    ]
    tables = {name: _feature_frame(ordered, name, names) for name in FEATURE_TABLES}
    qc = qc_table(cohort, tables, results, failures, names)
    broken = apply_rules(qc.set_index("participant_id"), rules)
    excluded = broken[broken != ""]
    for pid in excluded.index:
        del results[pid]
        for name in FEATURE_TABLES:
            tables[name].loc[tables[name]["participant_id"] == pid, names] = np.nan
    qc.loc[qc["participant_id"].isin(excluded.index), "status"] = "excluded"
    tables["qc"] = qc
    tables["excluded"] = pd.DataFrame(
        {"participant_id": list(excluded.index), "rule": list(excluded.values)},
        columns=["participant_id", "rule"],
    )
    if not results:
        raise UserError(
            f"{cohort.path}: every participant failed or was excluded",
            fix="correct the inputs listed in failures.tsv or relax --exclude-qc",
        )
    succeeded = np.array([pid in results for pid in cohort.participant_ids])
    n_valid = np.vstack([r.n_valid for r, ok in zip(ordered, succeeded, strict=True) if ok])
    valid = ~np.isnan(tables["sfc"][names].to_numpy()[succeeded])
    region_table = pd.DataFrame(
        {
            "index": regions,
            "name": names,
            "n_voxels": np.bincount(labels.ravel(), minlength=int(regions.max()) + 1)[regions],
            "coverage": valid.mean(axis=0),
            "n_participants_nan": (~valid).sum(axis=0),
            "median_gm_voxels": np.median(n_valid, axis=0),
        }
    )
    tables["regions"] = region_table
    tables["failures"] = pd.DataFrame(
        {"participant_id": list(failures), "reason": list(failures.values())},
        columns=["participant_id", "reason"],
    )
    _warn_sparse(region_table, parameters.min_voxels)
    if failures:
        warnings.warn(
            f"{len(failures)} participant(s) failed and have empty rows: "
            f"{', '.join(list(failures)[:10])}; reasons in {out_dir / 'failures.tsv'}",
            UserWarning,
            stacklevel=2,
        )

    for name, file_name in FEATURE_TABLES.items():
        write_tsv(tables[name], out_dir / file_name)
    write_tsv(region_table, out_dir / "regions.tsv")
    write_tsv(tables["failures"], out_dir / "failures.tsv")
    write_tsv(tables["qc"], out_dir / "qc.tsv")
    write_tsv(tables["excluded"], out_dir / "excluded.tsv")
    if parameters.method == SEARCHLIGHT:
        maps = [
            (pid, f"searchlight/{searchlight_map_name(pid)}")
            for pid in cohort.participant_ids
            if pid in results
        ]
        write_tsv(pd.DataFrame(maps, columns=["participant_id", "map"]), out_dir / "maps.tsv")
    save_nifti(nib.Nifti1Image(labels.astype(np.int16), grid.affine), out_dir / "atlas.nii.gz")
    checksums = {str(cohort.path): file_sha256(cohort.path)}
    for result in results.values():
        checksums.update(result.checksums)
    write_dataset_description(
        out_dir,
        step="extract",
        parameters=parameter_record,
        input_checksums=checksums,
        extra={
            "Atlas": atlas.provenance(grid),
            "GrayMatterMask": f"GMV > {parameters.gm_threshold}"
            + (f" within {parameters.gm_mask}" if parameters.gm_mask else "")
            + ", ALFF finite and non-zero",
            "ALFF": "XCP-D scale: 2 x mean sqrt(one-sided power spectrum) over "
            f"{parameters.band[0]}-{parameters.band[1]} Hz after linear detrending; regional "
            "ALFF is mALFF (divided by the participant's mean gray-matter ALFF)",
            "SFC": _method_description(parameters),
            "Manifest": str(cohort.path),
            "Failures": len(failures),
            "Denoising": parameters.denoise,
            "Censoring": (
                f"volumes with framewise displacement > {parameters.fd_threshold} mm"
                if parameters.fd_threshold is not None
                else "none"
            ),
            "QualityExclusion": exclude_qc or "none",
            "Resampling": (
                "GMV maps resampled (linear) onto each participant's functional grid"
                if parameters.resample_to == "functional"
                else "none"
            ),
        },
    )
    return tables


def _method_description(parameters: ExtractionParameters) -> str:
    if parameters.method in METHODS:
        return METHODS[parameters.method].description
    if parameters.method == SEARCHLIGHT:
        return (
            f"searchlight: Fisher-z Pearson correlation of GMV and ALFF across the gray-matter "
            f"voxels within {parameters.radius:g} mm of each voxel (maps in searchlight/, "
            "listed in maps.tsv); regional SFC is the map's mean over the region"
        )
    return (
        "connectivity-profile coupling: Spearman correlation of a region's "
        "morphometric-similarity and functional-connectivity rows"
    )


def _feature_frame(
    results: list[ParticipantFeatures], name: str, columns: list[str]
) -> pd.DataFrame:
    frame = pd.DataFrame(np.vstack([getattr(r, name) for r in results]), columns=columns)
    frame.insert(0, "participant_id", [r.participant_id for r in results])
    return frame


def _warn_sparse(region_table: pd.DataFrame, min_voxels: int) -> None:
    affected = region_table[region_table["n_participants_nan"] > 0]
    if affected.empty:
        return
    listed = ", ".join(
        f"{row.name} ({row.n_participants_nan})" for row in affected.head(15).itertuples()
    )
    more = f" and {len(affected) - 15} more" if len(affected) > 15 else ""
    warnings.warn(
        f"{len(affected)} region(s) had fewer than {min_voxels} valid gray-matter voxels in "
        f"some participants and are NaN there (participants affected): {listed}{more}; see "
        "regions.tsv, and lower --min-voxels or --gm-threshold or use a coarser atlas if needed",
        SparseRegionWarning,
        stacklevel=3,
    )


def _load_user_mask(path: str | None, grid: Grid) -> np.ndarray | None:
    if path is None:
        return None
    image = load_image(path, ndim=3, role="gray-matter mask")
    check_same_grid(grid, "the cohort's GMV maps", Grid.of(image), path)
    data = load_data(image, path, role="gray-matter mask")
    mask = np.isfinite(data) & (data > 0)
    if not mask.any():
        raise file_error(path, "the gray-matter mask is empty", fix="check the mask image")
    return mask
