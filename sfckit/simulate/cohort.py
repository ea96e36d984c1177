"""Synthetic cohorts with planted effects, calibrated to the reference study.

The cohort mimics Ye et al. (2026): TRD / nTRD / HC groups with their sizes, ages,
illness duration, onset age, HAMD-24 (baseline and post-treatment), HAMA, suicidal
ideation (BSI), a despair score, failed treatments, medication load, sex and two sites
with a scanner offset. Images live on an MNI152 grid (2 mm = the standard 91 x 109 x 91).

Planted effects (listed in ``truth.json``):

- lower SFC (Fisher-z of the voxel-wise GMV–ALFF correlation) in TRD than in nTRD and HC
  in the right middle frontal gyrus, left inferior parietal lobule (Harvard–Oxford left
  supramarginal posterior division and left angular gyrus), left precentral gyrus and right
  superior temporal gyrus (posterior division); with the built-in Harvard-Oxford atlas the
  effect covers each area as both Harvard-Oxford and AAL2 draw it (the voxels of either),
  and ``truth.json`` lists, per atlas, the fraction of each region's voxels that carry it;
- in nTRD only, left-hippocampus SFC that rises with suicidal ideation (BSI);
- next-step treatments and remission (``next_treatment``, ``remitted``) whose rTMS benefit
  grows as right-middle-frontal coupling falls (:mod:`sfckit.simulate.treatment`), with each
  patient's true remission probability under every treatment;
- no group effect on the regional means of GMV or ALFF anywhere: within a region, ALFF is
  ``mean * (1 + spread * (rho * z(GMV) + sqrt(1 - rho^2) * noise))``, so the coupling
  ``rho`` changes the correlation but not the mean.

With ``kind="bold"`` the ALFF map is turned into a BOLD run whose in-band Fourier amplitudes
reproduce it exactly under sfckit's ALFF definition (out-of-band noise, a baseline and a
linear drift are added).
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from scipy import ndimage

from sfckit.declarations.names import DEFAULT_BAND
from sfckit.declarations.settings import SimulationSettings
from sfckit.engine import make_batches, run_tasks
from sfckit.features.regional import grouped_mean, region_positions
from sfckit.io.atlases import Atlas, harvard_oxford
from sfckit.io.images import Grid
from sfckit.io.outputs import save_nifti, write_dataset_description, write_json, write_tsv
from sfckit.simulate.treatment import add_treatments
from sfckit.stats.sensitivity import REFERENCE_AREAS

PLANTED_SFC_REGIONS = (
    "Right_Middle_Frontal_Gyrus",
    "Left_Supramarginal_Gyrus_posterior_division",
    "Left_Angular_Gyrus",
    "Left_Precentral_Gyrus",
    "Right_Superior_Temporal_Gyrus_posterior_division",
)
PLANTED_CORRELATION_REGION = "Left_Hippocampus"
TREATMENT_MODIFIER_REGION = "Right_Middle_Frontal_Gyrus"
# With the built-in Harvard-Oxford atlas the effect is planted in the union of both
# built-in atlases' versions of each of the study's areas (an anatomical area, not one
# atlas's parcel), so that it replicates on both atlases, as it did on Brainnetome and
# Harvard-Oxford in the study.
PLANTED_SFC_REGIONS_AAL = tuple(aal for _, regions in REFERENCE_AREAS.values() for aal in regions)
GROUPS = ("TRD", "nTRD", "HC")


def mni_grid(resolution: float) -> Grid:
    """An MNI152 grid at ``resolution`` mm (2 mm gives the standard 91 x 109 x 91)."""
    shape = tuple(int(np.floor(extent / resolution)) + 1 for extent in (180, 216, 180))
    affine = np.array(
        [
            [-resolution, 0, 0, 90.0],
            [0, resolution, 0, -126.0],
            [0, 0, resolution, -72.0],
            [0, 0, 0, 1],
        ]
    )
    return Grid(shape, affine)


def simulate_clinical(settings: SimulationSettings) -> pd.DataFrame:
    """Participants' demographics and clinical scores (one row each)."""
    rng = np.random.default_rng([settings.seed, 1])
    groups = np.repeat(GROUPS, [settings.n_trd, settings.n_ntrd, settings.n_hc])
    n = len(groups)
    is_trd, is_ntrd, is_hc = (groups == "TRD"), (groups == "nTRD"), (groups == "HC")

    def by_group(trd: float, ntrd: float, hc: float, sd: float, low: float, high: float):
        centre = np.select([is_trd, is_ntrd], [trd, ntrd], hc)
        return np.clip(rng.normal(centre, sd), low, high)

    age = by_group(26.3, 28.2, 27.5, 6.0, 18, 55)
    duration = np.where(
        is_hc, 0.0, rng.lognormal(np.log(np.where(is_trd, 51.0, 12.0)) - 0.5 * 0.6**2, 0.6)
    )
    onset = np.where(is_hc, np.nan, np.clip(age - duration / 12.0, 10, None))
    frame = pd.DataFrame(
        {
            "participant_id": [f"sub-{i + 1:04d}" for i in range(n)],
            "group": groups,
            "age": age.round(1),
            "sex": rng.choice(["F", "M"], size=n, p=[0.6, 0.4]),
            "site": rng.choice(["siteA", "siteB"], size=n, p=[0.6, 0.4]),
            "duration_months": duration.round(1),
            "onset_age": onset.round(1),
            "hamd": by_group(31.3, 31.0, 3.0, 5.0, 0, 75).round(),
            "hamd_post": np.where(is_hc, np.nan, by_group(25.7, 6.1, 0, 5.0, 0, 75).round()),
            "hama": by_group(22.8, 21.3, 3.0, 5.0, 0, 56).round(),
            "bsi": by_group(15.0, 11.7, 1.0, 6.0, 0, 38).round(),
            "despair": by_group(12.5, 10.0, 3.0, 3.5, 0, 20).round(),
            "failed_treatments": np.select(
                [is_trd, is_ntrd], [rng.integers(2, 6, n), rng.integers(0, 2, n)], 0
            ),
            "medication_load": np.select(
                [is_trd, is_ntrd], [rng.normal(3.5, 1.0, n), rng.normal(2.0, 0.8, n)], 0.0
            )
            .clip(0)
            .round(2),
        }
    )
    return _add_follow_up(frame, settings)


def _add_follow_up(frame: pd.DataFrame, settings: SimulationSettings) -> pd.DataFrame:
    """Treatment received and relapse follow-up of the patients (own random stream).

    TRD patients more often receive rTMS and relapse sooner (hazard ratio 2.5, plus 1.3 per
    SD of suicidal ideation); follow-up is censored uniformly between 6 and 24 months.
    """
    rng = np.random.default_rng([settings.seed, 5])
    n = len(frame)
    is_trd = (frame["group"] == "TRD").to_numpy()
    is_patient = (frame["group"] != "HC").to_numpy()
    rtms = rng.random(n) < np.where(is_trd, 0.4, 0.15)
    frame["treatment"] = np.where(is_patient, np.where(rtms, "rTMS", "medication"), "none")
    bsi = frame["bsi"].to_numpy(float)
    hazard = (1 / 18.0) * 2.5**is_trd * 1.3 ** ((bsi - bsi.mean()) / bsi.std())
    relapse = rng.exponential(1 / hazard)
    censor = rng.uniform(6, 24, n)
    frame["relapse_months"] = np.where(
        is_patient, np.clip(np.minimum(relapse, censor), 0.1, None).round(1), np.nan
    )
    frame["relapsed"] = np.where(is_patient, (relapse <= censor).astype(float), np.nan)
    return frame


def planted_sfc(
    clinical: pd.DataFrame, region_names: list[str], settings: SimulationSettings
) -> np.ndarray:
    """Target Fisher-z coupling per participant x region (before voxel sampling noise).

    The TRD decrease is not in it: it is planted per voxel (see :func:`planted_voxels`).
    """
    rng = np.random.default_rng([settings.seed, 2])
    n, n_regions = len(clinical), len(region_names)
    region_offset = rng.normal(0, 0.05, n_regions)
    z = (
        settings.baseline_sfc_z
        + region_offset[None, :]
        + rng.normal(0, settings.subject_sfc_sd, (n, n_regions))
        - 0.002 * (clinical["age"].to_numpy() - 27.0)[:, None]
    )
    if PLANTED_CORRELATION_REGION in region_names:
        is_ntrd = (clinical["group"] == "nTRD").to_numpy()
        bsi = clinical["bsi"].to_numpy(dtype=float)
        if is_ntrd.sum() > 1:
            standardised = (bsi[is_ntrd] - bsi[is_ntrd].mean()) / (bsi[is_ntrd].std() or 1.0)
            column = region_names.index(PLANTED_CORRELATION_REGION)
            z[is_ntrd, column] += settings.hippocampus_bsi_slope * standardised
    return z


def planted_voxels(atlas: Atlas, labels: np.ndarray, grid: Grid) -> np.ndarray:
    """Voxels where TRD participants get the lower coupling (boolean, on ``grid``).

    The planted regions of ``atlas``; with the built-in Harvard-Oxford atlas also the AAL2
    versions of the four reference areas (:data:`REFERENCE_AREAS`).
    """
    names = atlas.region_names
    index = atlas.labels["index"].to_numpy()
    planted_ids = [index[names.index(n)] for n in PLANTED_SFC_REGIONS if n in names]
    voxels = np.isin(labels, planted_ids)
    if atlas.name == harvard_oxford().name:
        from sfckit.io.atlases import aal

        second = aal()
        second_names = second.region_names
        ids = second.labels["index"].to_numpy()
        wanted = [ids[second_names.index(n)] for n in PLANTED_SFC_REGIONS_AAL]
        voxels |= np.isin(second.labels_on(grid), wanted)
    return voxels


def planted_fractions(
    atlas: Atlas, grid: Grid, planted: np.ndarray, gray: np.ndarray
) -> dict[str, float]:
    """Fraction of each region's gray-matter voxels that carry the planted effect (> 0)."""
    labels = atlas.labels_on(grid)
    fractions = {}
    for index, name in zip(atlas.labels["index"], atlas.region_names, strict=True):
        inside = (labels == index) & gray
        if inside.any() and (planted & inside).any():
            fractions[name] = round(float((planted & inside).sum() / inside.sum()), 4)
    return fractions


def _anatomy(labels: np.ndarray, settings: SimulationSettings) -> tuple[np.ndarray, np.ndarray]:
    """A shared gray-matter template (smooth field in labelled voxels) and a brain mask."""
    rng = np.random.default_rng([settings.seed, 3])
    field = ndimage.gaussian_filter(rng.normal(size=labels.shape), sigma=6.0 / settings.resolution)
    field = (field - field.mean()) / field.std()
    gray = labels > 0
    brain = ndimage.binary_dilation(gray, iterations=2)
    template = np.zeros(labels.shape, dtype=np.float32)
    template[brain] = 0.1
    template[gray] = np.clip(0.6 + 0.12 * field[gray], 0.3, 0.95)
    return template, brain


def _participant_batch(batch: list[tuple[int, dict, np.ndarray]], context: dict) -> None:
    for index, row, sfc_z in batch:
        _participant_images(index, row, sfc_z, context)


def _participant_images(
    index: int,
    row: dict,
    sfc_z: np.ndarray,
    context: dict,
) -> str:
    settings: SimulationSettings = context["settings"]
    grid: Grid = context["grid"]
    labels, template, brain = context["labels"], context["template"], context["brain"]
    regions = context["regions"]
    out_dir: Path = context["out_dir"]
    rng = np.random.default_rng([settings.seed, 100 + index])
    site_b = row["site"] == "siteB"

    gmv = template + rng.normal(0, 0.04, template.shape).astype(np.float32)
    gmv += np.float32(settings.site_gmv_offset if site_b else 0.0)
    gmv = np.where(brain, np.clip(gmv, 0.01, 1.0), 0.0).astype(np.float32)

    voxels = np.flatnonzero(brain)
    positions = region_positions(labels.ravel()[voxels], regions)
    gmv_voxels = gmv.ravel()[voxels].astype(np.float64)
    centred = gmv_voxels - grouped_mean(gmv_voxels, positions, len(regions))[positions]
    spread = np.sqrt(grouped_mean(centred**2, positions, len(regions)))[positions]
    z_gmv = np.where(positions >= 0, centred / np.where(spread > 0, spread, 1.0), 0.0)
    z_voxels = np.where(positions >= 0, sfc_z[np.maximum(positions, 0)], 0.0)
    if row["group"] == "TRD":
        z_voxels = z_voxels - settings.trd_sfc_decrease * context["planted"].ravel()[voxels]
    rho = np.where(positions >= 0, np.tanh(z_voxels), 0.0)
    region_mean = rng.normal(1.0, 0.08, len(regions))
    mean = np.where(positions >= 0, region_mean[positions], 0.6)
    noise = rng.normal(size=voxels.size)
    alff_voxels = (
        10.0 * mean * (1 + settings.alff_spread * (rho * z_gmv + np.sqrt(1 - rho**2) * noise))
    )
    alff_voxels *= settings.site_alff_scale if site_b else 1.0
    alff_voxels = np.clip(alff_voxels, 0.5, None)

    pid = row["participant_id"]
    folder = out_dir / pid
    gmv_file = folder / f"{pid}_desc-modulated_gmv.nii.gz"
    save_nifti(nib.Nifti1Image(gmv, grid.affine), gmv_file)
    if settings.kind == "alff":
        alff_map = np.zeros(grid.shape, dtype=np.float32)
        alff_map.ravel()[voxels] = alff_voxels
        save_nifti(nib.Nifti1Image(alff_map, grid.affine), folder / f"{pid}_alff.nii.gz")
    else:
        bold = _bold_from_alff(alff_voxels, rng, settings)
        if "tms_centres" in context:
            _plant_tms_cluster(bold, voxels, context, context["tms_centres"][index], rng)
        series = np.zeros((*grid.shape, settings.n_volumes), dtype=np.float32)
        series.reshape(-1, settings.n_volumes)[voxels] = bold.T
        image = nib.Nifti1Image(series, grid.affine)
        image.header.set_xyzt_units("mm", "sec")
        image.header["pixdim"][4] = settings.tr
        save_nifti(image, folder / f"{pid}_bold.nii.gz")
    return pid


def _bold_from_alff(
    alff_voxels: np.ndarray, rng: np.random.Generator, settings: SimulationSettings
) -> np.ndarray:
    """(time x voxels) BOLD whose in-band amplitudes give exactly ``alff_voxels``."""
    n = settings.n_volumes
    freqs = np.fft.rfftfreq(n, d=settings.tr)
    in_band = (freqs >= DEFAULT_BAND[0]) & (freqs <= DEFAULT_BAND[1])
    # A cosine of amplitude a at a Fourier bin has sqrt(spectrum) a/sqrt(2); ALFF is
    # 2 x the band mean of that, so equal in-band amplitudes a = ALFF/sqrt(2).
    amplitude = np.where(
        in_band[:, None],
        alff_voxels[None, :] / np.sqrt(2.0),
        0.3 * alff_voxels[None, :] / np.sqrt(2.0),
    )
    amplitude[0] = 0.0
    if n % 2 == 0:
        amplitude[-1] = 0.0
    phases = rng.uniform(0, 2 * np.pi, amplitude.shape)
    spectrum = amplitude * np.exp(1j * phases) * (n / 2.0)
    series = np.fft.irfft(spectrum, n=n, axis=0)
    drift = np.linspace(-1.0, 1.0, n)[:, None] * rng.normal(0, 2.0, alff_voxels.size)[None, :]
    return (1000.0 + series + drift).astype(np.float32)


def _add_treatments(
    clinical: pd.DataFrame, sfc_z: np.ndarray, names: list[str], settings: SimulationSettings
) -> tuple[pd.DataFrame, dict]:
    """Next-step treatments whose rTMS benefit depends on the true coupling of the right
    middle frontal gyrus (the first planted region the atlas has, else its first region)."""
    present = [n for n in (TREATMENT_MODIFIER_REGION, *PLANTED_SFC_REGIONS) if n in names]
    region = present[0] if present else names[0]
    column = names.index(region)
    planted = region in PLANTED_SFC_REGIONS
    is_trd = (clinical["group"] == "TRD").to_numpy()
    coupling = sfc_z[:, column] - settings.trd_sfc_decrease * (is_trd & planted)
    frame, truth = add_treatments(
        clinical,
        coupling,
        assignment=settings.assignment,
        heterogeneity=settings.treatment_heterogeneity,
        seed=settings.seed,
    )
    return frame, {"modifier_region": region, **truth}


def tms_centres(n: int, grid: Grid, brain: np.ndarray, seed: int) -> np.ndarray:
    """Person-specific planted rTMS targets: the Fox et al. (2012) group target moved by up
    to 10 mm per axis, kept on a brain voxel of the left DLPFC search region."""
    from sfckit.features.tms import REFERENCE_SITES, dlpfc_search_region, voxel_coordinates

    rng = np.random.default_rng([seed, 11])
    coordinates = voxel_coordinates(grid.affine, grid.shape)
    allowed = coordinates[dlpfc_search_region(coordinates, brain)]
    wanted = np.asarray(REFERENCE_SITES["fox2012"]) + rng.uniform(-10, 10, (n, 3))
    nearest = ((wanted[:, None, :] - allowed[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    return allowed[nearest]


def _plant_tms_cluster(
    bold: np.ndarray, voxels: np.ndarray, context: dict, centre: np.ndarray, rng
) -> None:
    """Add a shared in-band signal to the sgACC seed sphere and its negative, fading with a
    4-mm Gaussian, around ``centre`` (in place; bold is time x brain voxels)."""
    from sfckit.features.tms import SEED_RADIUS, SGACC_SEED, sphere

    settings: SimulationSettings = context["settings"]
    coordinates = context["brain_coordinates"]
    n = settings.n_volumes
    freqs = np.fft.rfftfreq(n, d=settings.tr)
    in_band = (freqs >= DEFAULT_BAND[0]) & (freqs <= DEFAULT_BAND[1])
    spectrum = np.where(in_band, np.exp(1j * rng.uniform(0, 2 * np.pi, freqs.size)), 0)
    shared = np.fft.irfft(spectrum, n=n)
    shared /= shared.std()
    scale = (bold - bold.mean(axis=0)).std(axis=0)
    seed = sphere(coordinates, SGACC_SEED, SEED_RADIUS)
    distance2 = ((coordinates - centre) ** 2).sum(axis=1)
    weight = np.where(distance2 <= 8.0**2, np.exp(-distance2 / (2 * 4.0**2)), 0.0)
    bold[:, seed] += (shared[:, None] * scale[seed]).astype(bold.dtype)
    near = weight > 0
    bold[:, near] -= (shared[:, None] * 1.5 * weight[near] * scale[near]).astype(bold.dtype)


def _aal() -> Atlas:
    from sfckit.io.atlases import aal

    return aal()


def simulate_cohort(
    out_dir: str | Path,
    settings: SimulationSettings | None = None,
    *,
    atlas: Atlas | None = None,
    jobs: int = 1,
    progress: bool = True,
) -> Path:
    """Write a synthetic cohort: images, ``manifest.tsv`` and ``truth.json``.

    Parameters
    ----------
    out_dir : str or Path
        Output folder.
    settings : SimulationSettings, optional
        Group sizes, image kind, resolution and effect sizes (default: the reference study).
    atlas : Atlas, optional
        The atlas defining regions (default: built-in Harvard–Oxford).
    jobs : int
        Worker processes.
    progress : bool
        Show a progress bar.

    Returns
    -------
    Path
        The manifest.
    """
    settings = settings or SimulationSettings()
    out_dir = Path(out_dir)
    atlas = atlas or harvard_oxford()
    grid = mni_grid(settings.resolution)
    labels = atlas.labels_on(grid)
    regions = atlas.labels["index"].to_numpy()
    names = atlas.region_names
    clinical = simulate_clinical(settings)
    sfc_z = planted_sfc(clinical, names, settings)
    treatment_truth = None
    planted_targets = None
    if settings.assignment != "none":
        clinical, treatment_truth = _add_treatments(clinical, sfc_z, names, settings)
    template, brain = _anatomy(labels, settings)
    planted = planted_voxels(atlas, labels, grid)
    context = {
        "planted": planted,
        "settings": settings,
        "grid": grid,
        "labels": labels,
        "template": template,
        "brain": brain,
        "regions": regions,
        "out_dir": out_dir,
    }
    if settings.tms_cluster and settings.kind == "bold":
        from sfckit.features.tms import voxel_coordinates

        planted_targets = tms_centres(len(clinical), grid, brain, settings.seed)
        context["tms_centres"] = planted_targets
        context["brain_coordinates"] = voxel_coordinates(grid.affine, grid.shape)[brain]
    # batches, as extraction sends them, so that the context (a few MB of volumes) travels
    # to a worker once per batch
    batches = make_batches(list(enumerate(clinical.to_dict("records"))), jobs)
    for _ in run_tasks(
        _participant_batch,
        [([(i, row, sfc_z[i]) for i, row in batch], context) for batch in batches],
        jobs=jobs,
        progress=progress,
        description="simulating participants (in batches)",
    ):
        pass

    manifest = clinical.copy()
    ids = manifest["participant_id"]
    manifest.insert(2, "gmv", [f"{p}/{p}_desc-modulated_gmv.nii.gz" for p in ids])
    if settings.kind == "alff":
        manifest.insert(3, "alff", [f"{p}/{p}_alff.nii.gz" for p in ids])
    else:
        manifest.insert(3, "bold", [f"{p}/{p}_bold.nii.gz" for p in ids])
        manifest.insert(4, "tr", settings.tr)
    manifest_path = write_tsv(manifest, out_dir / "manifest.tsv")
    truth = {
        "settings": settings.model_dump(mode="json"),
        "atlas": atlas.name,
        "grid": grid.describe(),
        "group_sizes": {g: int((clinical["group"] == g).sum()) for g in GROUPS},
        "planted_area_fractions": {
            atlas.name: planted_fractions(atlas, grid, planted, labels > 0),
            **(
                {"aal": planted_fractions(_aal(), grid, planted, labels > 0)}
                if atlas.name == harvard_oxford().name
                else {}
            ),
        },
        "reference_areas": {
            area: {"harvard-oxford": list(ho), "aal": list(second)}
            for area, (ho, second) in REFERENCE_AREAS.items()
        },
        "sfc_group_effects": [
            {
                "region": name,
                "lower_in": "TRD",
                "than": ["nTRD", "HC"],
                "fisher_z_difference": settings.trd_sfc_decrease,
            }
            for name in PLANTED_SFC_REGIONS
            if name in names
        ],
        "sfc_score_correlations": [
            {
                "region": PLANTED_CORRELATION_REGION,
                "score": "bsi",
                "group": "nTRD",
                "direction": "positive",
                "fisher_z_per_sd": settings.hippocampus_bsi_slope,
                "absent_in": ["TRD", "HC"],
            }
        ]
        if PLANTED_CORRELATION_REGION in names
        else [],
        "null_effects": "no group difference in regional mean GMV or mean ALFF in any region",
        "site_effects": {
            "siteB_gmv_offset": settings.site_gmv_offset,
            "siteB_alff_scale": settings.site_alff_scale,
        },
    }
    if treatment_truth is not None:
        truth["treatment"] = treatment_truth
    if planted_targets is not None:
        truth["tms_targets"] = {
            pid: [float(v) for v in centre]
            for pid, centre in zip(clinical["participant_id"], planted_targets, strict=True)
        }
    write_json(truth, out_dir / "truth.json")
    write_dataset_description(out_dir, step="simulate", parameters=settings.model_dump(mode="json"))
    return manifest_path
