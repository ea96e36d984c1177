"""The orchestration of ``extract`` (:mod:`sfckit.steps.extract` declares the step): the
reference grid and header checks, the per-participant cache (finished participants are
reused by a rerun), the parallel run of :mod:`sfckit.features.participant` in the workers,
the QC table and exclusions, and the tables and provenance, staged so that they appear
together or not at all.

Gray-matter mask: voxels whose GMV exceeds ``gm_threshold`` (and that lie inside the user
mask, when one is given) and whose ALFF is finite and non-zero.
Regional ALFF is mALFF: ALFF divided by the participant's mean ALFF over that mask.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd

from sfckit.declarations import layout
from sfckit.declarations.settings import ExtractionParameters
from sfckit.engine import make_batches, run_tasks
from sfckit.errors import SparseRegionWarning, UserError, file_error
from sfckit.features.methods import METHODS
from sfckit.features.participant import (
    Failure,
    ParticipantFeatures,
    batch_task,
    check_participant_images,
    load_cached,
    participant_key,
    searchlight_map_name,
)
from sfckit.features.qc import (
    apply_rules,
    check_rules_can_be_applied,
    mean_fd_sources,
    parse_rules,
    qc_table,
)
from sfckit.io.atlases import Atlas
from sfckit.io.cache import CACHE_FOLDER, entry_name, remove_stale
from sfckit.io.images import (
    Grid,
    check_same_grid,
    load_data,
    load_image,
)
from sfckit.io.manifest import Cohort
from sfckit.io.outputs import (
    file_sha256,
    parameters_hash,
    save_nifti,
    staged_folder,
    writable,
    write_dataset_description,
    write_tsv,
)
from sfckit.report.apa import count
from sfckit.version import environment_record

ALFF_CONVENTIONS = {
    "sfckit": "linear detrend, 2 x mean sqrt(one-sided power spectrum) over the closed band",
    "dpabi": "DPABI y_alff_falff.m: linear detrend, zero padding to a power of two, "
    "2|FFT|/N, bins ceil(low P TR + 1) to fix(high P TR + 1)",
    "xcpd": "XCP-D compute_alff: z-scored, sqrt periodogram (Lomb-Scargle when censored), "
    "2 x mean over the bins nearest the edges, times the voxel SD",
}
STOP_FILE = ".stop"
MEAN_FD_DEFINITION = (
    "mean of fMRIPrep's framewise_displacement over the volumes analysed before censoring "
    "(non-steady-state volumes dropped unless kept; n/a left out), runs pooled; counts of "
    "participants whose qc.tsv mean_fd was computed from the confounds, taken from the "
    "manifest, or unknown"
)


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
        ``"local-cluster"``, a Dask scheduler address (``tcp://host:port``) or a cluster
        file (``.yaml``, see :func:`sfckit.engine.cluster_from_file`).
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
    parameters = parameters or ExtractionParameters()
    rules = parse_rules(exclude_qc)
    out_dir = Path(out_dir)
    failures: dict[str, str] = {}
    censored_away: dict[str, Failure] = {}  # too few volumes after censoring: see below
    rows = cohort.table.to_dict("records")
    grid, reference, first_valid = _reference_grid(
        rows, parameters, keep_going=keep_going, failures=failures, cohort=cohort
    )
    user_mask = _load_user_mask(parameters.gm_mask, grid)
    labels = atlas.labels_on(grid)
    regions = atlas.labels["index"].to_numpy()
    names = atlas.region_names
    parameter_record = {**parameters.numeric(), "atlas": atlas.checksum}
    # the cache is keyed on the versions too: features computed by other libraries are
    # computed again, so the folder's provenance names the libraries of every participant
    run_hash = parameters_hash({**parameter_record, "environment": environment_record()})
    cache = out_dir / CACHE_FOLDER / run_hash[:16]
    with writable(out_dir):
        cache.mkdir(parents=True, exist_ok=True)
    remove_stale(cache)
    context = {
        "labels": labels,
        "regions": regions,
        "region_names": names,
        "grid": grid,
        "parameters": parameters,
        "user_mask": user_mask,
        "map_dir": str(out_dir / "searchlight") if METHODS[parameters.method].writes_map else None,
        "qc_rules": bool(rules),  # a run censoring leaves too short waits for the rules
    }
    results, pending = _reuse_cached(rows, failures, cache, run_hash, context["map_dir"])
    if log:
        log(
            f"extract: {count(len(results), 'participant')} reused from the cache, "
            f"{len(pending)} to compute"
        )
    stop_file = cache / STOP_FILE
    stop_file.unlink(missing_ok=True)
    batches = make_batches(pending, jobs)
    tasks = run_tasks(
        batch_task,
        [(batch, context, keep_going, str(stop_file)) for batch in batches],
        jobs=jobs,
        progress=progress,
        scheduler=scheduler,
        # the progress counts batches of participants: say so
        description=f"extracting {count(len(pending), 'participant')} in "
        f"{count(len(batches), 'batch', 'batches')}",
    )
    try:
        # While the workers extract, the remaining headers are checked here in manifest
        # order, so a bad file is reported within seconds, and the first bad row first.
        for row in rows[first_valid + 1 :]:
            _check_headers(row, grid, reference, parameters, keep_going, failures)
        for batch in tasks:
            for outcome in batch:
                if outcome.participant_id in failures:
                    continue  # its header check already said why
                if isinstance(outcome, Failure) and outcome.motion is not None and rules:
                    censored_away[outcome.participant_id] = outcome
                elif isinstance(outcome, Failure):
                    if not keep_going:
                        raise outcome.error
                    failures[outcome.participant_id] = outcome.reason
                else:
                    results[outcome.participant_id] = outcome
    except BaseException:
        stop_file.touch()  # the workers finish the participant in hand, then stop
        with suppress(Exception):
            for _ in tasks:
                pass
        raise
    finally:
        tasks.close()
        stop_file.unlink(missing_ok=True)
    for pid in failures:
        results.pop(pid, None)
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
    tables = {name: _feature_frame(ordered, name, names) for name in layout.FEATURE_TABLES}
    qc = qc_table(cohort, tables, results, failures, names)
    for pid, failure in censored_away.items():  # what their runs moved, from the worker
        for column, value in failure.motion.items():
            qc.loc[qc["participant_id"] == pid, column] = value
    check_rules_can_be_applied(qc, rules, cohort.table.set_index("participant_id"))
    broken = apply_rules(qc.set_index("participant_id"), rules)
    excluded = broken[broken != ""]
    for pid, failure in censored_away.items():
        if pid in excluded.index:
            continue
        if not keep_going:
            raise failure.error  # the QC rules keep a run censoring left too short
        failures[pid] = failure.reason
        qc.loc[qc["participant_id"] == pid, "status"] = "failed"
    for pid in excluded.index:
        results.pop(pid, None)
        for name in layout.FEATURE_TABLES:
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
            f"{', '.join(list(failures)[:10])}; reasons in {out_dir / layout.FAILURES}",
            UserWarning,
            stacklevel=2,
        )

    with staged_folder(out_dir) as stage:  # the tables appear together or not at all
        for name, file_name in layout.FEATURE_TABLES.items():
            write_tsv(tables[name], stage / file_name)
        write_tsv(region_table, stage / layout.REGIONS)
        write_tsv(tables["failures"], stage / layout.FAILURES)
        write_tsv(tables["qc"], stage / layout.QC)
        write_tsv(tables["excluded"], stage / layout.EXCLUDED)
        if METHODS[parameters.method].writes_map:
            maps = [
                (pid, f"searchlight/{searchlight_map_name(pid)}")
                for pid in cohort.participant_ids
                if pid in results
            ]
            write_tsv(pd.DataFrame(maps, columns=["participant_id", "map"]), stage / layout.MAPS)
        save_nifti(
            nib.Nifti1Image(labels.astype(np.int16), grid.affine), stage / layout.ATLAS_IMAGE
        )
        checksums = {str(cohort.path): file_sha256(cohort.path)}
        for result in results.values():
            checksums.update(result.checksums)
        write_dataset_description(
            stage,
            step="extract",
            parameters=parameter_record,
            input_checksums=checksums,
            extra={
                "Atlas": atlas.provenance(grid),
                "GrayMatterMask": f"GMV > {parameters.gm_threshold}"
                + (f" within {parameters.gm_mask}" if parameters.gm_mask else "")
                + ", ALFF finite and non-zero",
                "ALFF": f"convention '{parameters.alff_convention}' "
                f"({ALFF_CONVENTIONS[parameters.alff_convention]}) over "
                f"{parameters.band[0]}-{parameters.band[1]} Hz (BOLD input); regional ALFF is "
                "mALFF (divided by the participant's mean gray-matter ALFF)",
                "SFC": METHODS[parameters.method].description,
                "GrayMatterMeasure": gray_matter_measures(cohort),
                "Manifest": str(cohort.path),
                "Failures": len(failures),
                "Denoising": parameters.denoise,
                "Censoring": (
                    f"volumes with framewise displacement > {parameters.fd_threshold} mm"
                    if parameters.fd_threshold is not None
                    else "none"
                ),
                "QualityExclusion": exclude_qc or "none",
                "MeanFD": {"definition": MEAN_FD_DEFINITION, **mean_fd_sources(qc)},
                "Resampling": (
                    "GMV maps resampled (linear) onto each participant's functional grid"
                    if parameters.resample_to == "functional"
                    else "none"
                ),
            },
        )
    return tables


def gray_matter_measures(cohort: Cohort) -> dict[str, int]:
    """What the GM maps measure (the manifest's ``gm_measure``), with participant counts."""
    from sfckit.io.discover import UNMODULATED, UNSTATED_GM

    measures = cohort.table.get("gm_measure", pd.Series(pd.NA, index=cohort.table.index))
    counts = measures.fillna(UNSTATED_GM).value_counts().to_dict()
    unmodulated = sum(n for measure, n in counts.items() if UNMODULATED in measure)
    if unmodulated:
        warnings.warn(
            f"{count(unmodulated, 'participant')}: the GM map is fMRIPrep's unmodulated GM "
            "probability, not a GM volume, so 'GMV' and SFC here describe tissue probability; "
            "for GMV proper use modulated maps from CAT12 or SPM (sfckit manifest --gm cat12)",
            UserWarning,
            stacklevel=3,
        )
    return {str(k): int(v) for k, v in counts.items()}


def _check_headers(
    row: dict[str, Any],
    grid: Grid | None,
    reference: str,
    parameters: ExtractionParameters,
    keep_going: bool,
    failures: dict[str, str],
) -> Grid | None:
    """The participant's grid; a problem is raised, or with ``keep_going`` recorded in
    ``failures`` (and None returned)."""
    try:
        return check_participant_images(
            row, grid, reference, parameters.band, parameters.resample_to
        )
    except UserError as error:
        if not keep_going:
            raise
        failures[row["participant_id"]] = str(error)
        return None


def _reference_grid(
    rows: list[dict[str, Any]],
    parameters: ExtractionParameters,
    *,
    keep_going: bool,
    failures: dict[str, str],
    cohort: Cohort,
) -> tuple[Grid, str, int]:
    """The grid of the first participant (in manifest order) whose headers are valid, that
    image's path and the row's position; problems of earlier rows are raised or recorded."""
    for position, row in enumerate(rows):
        grid = _check_headers(row, None, "", parameters, keep_going, failures)
        if grid is not None:
            path = row["gmv"] if parameters.resample_to == "none" else row[row["functional"]]
            return grid, path, position
    raise UserError(
        f"{cohort.path}: no participant's images could be read",
        fix="see failures above; check the image paths and files",
    )


def _reuse_cached(
    rows: list[dict[str, Any]],
    failures: dict[str, str],
    cache: Path,
    run_hash: str,
    map_dir: str | None,
) -> tuple[dict[str, ParticipantFeatures], list[tuple[dict[str, Any], str, str]]]:
    """Participants finished by an earlier run with the same inputs and parameters, and
    the (row, cache file, key) of those still to compute."""
    results, pending = {}, []
    for row in rows:
        if row["participant_id"] in failures:
            continue
        cache_file = cache / entry_name(row["participant_id"])
        try:
            key = participant_key(row, run_hash)
        except OSError:
            continue  # vanished since the manifest was read; its header check reports it
        cached = load_cached(cache_file, key)
        if cached is not None and map_dir is not None:
            map_path = Path(map_dir) / searchlight_map_name(row["participant_id"])
            cached = cached if map_path.is_file() else None
        if cached is not None:
            results[row["participant_id"]] = cached
        else:
            pending.append((row, str(cache_file), key))
    return results, pending


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
