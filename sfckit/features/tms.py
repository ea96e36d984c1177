"""Individual rTMS targets: the left-DLPFC spot most anticorrelated with the subgenual ACC.

Fox et al. (2012) found that clinical efficacy of rTMS sites tracks their anticorrelation
with the subgenual anterior cingulate (sgACC) and proposed a group target near MNI
(-38, 44, 26); SAINT individualises it. Here, per run:

1. the BOLD series are band-passed (0.01-0.08 Hz) after linear detrending;
2. the seed series is the mean over a 10-mm sphere at the sgACC coordinate (6, 16, -10)
   used by Fox et al. (2012), or over a user mask;
3. the search region is the left DLPFC as the union of 20-mm spheres around the four
   reference sites below (Fox 2012 group target, BA9, BA46, the "5-cm rule" site) within the
   brain, or a user mask;
4. **cluster rule**: the search-region voxels in the lowest ``fraction`` (5 %) of the
   seed correlations form clusters (26-connectivity); the cluster with the largest summed
   anticorrelation is kept, and the target is the centre of mass, weighted by each voxel's
   anticorrelation, of that cluster's voxels within 6 mm of its most anticorrelated voxel
   (so the target cannot fall between two spots that merged into one cluster).

Split-half reliability repeats the procedure on the first and the second half of the run;
the distance between the two targets in mm says whether the target is reproducible.
Pure functions (arrays in, arrays out); the I/O lives in :mod:`sfckit.steps.tms_target`.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

NOTICE = (
    "For research use only: targets are computed from one resting-state run in MNI space; "
    "they need confirmation on the participant's own anatomy before any stimulation."
)

SGACC_SEED = (6.0, 16.0, -10.0)
SEED_RADIUS = 10.0
SEARCH_RADIUS = 20.0
REFERENCE_SITES = {
    "fox2012": (-38.0, 44.0, 26.0),
    "ba9": (-36.0, 39.0, 43.0),
    "ba46": (-44.0, 40.0, 29.0),
    "five_cm": (-41.0, 16.0, 54.0),
}
RELIABLE_DISTANCE = 10.0  # mm: split-half targets farther apart are flagged unreliable
BAND = (0.01, 0.08)


def voxel_coordinates(affine: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """MNI (mm) coordinates of every voxel of a grid, shape ``(*shape, 3)``."""
    indices = np.stack(np.meshgrid(*[np.arange(n) for n in shape[:3]], indexing="ij"), -1)
    return indices @ affine[:3, :3].T + affine[:3, 3]


def sphere(coordinates: np.ndarray, centre: tuple[float, ...], radius: float) -> np.ndarray:
    """Voxels within ``radius`` mm of ``centre``."""
    return ((coordinates - np.asarray(centre)) ** 2).sum(axis=-1) <= radius**2


def dlpfc_search_region(coordinates: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """The default left-DLPFC search region: 20-mm spheres around the reference sites, in
    the left hemisphere and the brain."""
    region = np.zeros(brain.shape, dtype=bool)
    for centre in REFERENCE_SITES.values():
        region |= sphere(coordinates, centre, SEARCH_RADIUS)
    return region & brain & (coordinates[..., 0] < 0)


PEAK_RADIUS = 6.0  # mm around the cluster's most anticorrelated voxel that form the target
BUTTERWORTH_ORDER = 5  # nilearn's default
FILTER_PADDING = 3 * (2 * BUTTERWORTH_ORDER + 1)  # scipy filtfilt's default padlen, band-pass
MIN_HALF_VOLUMES = 20  # each half of a run is band-passed on its own


def band_passed(series: np.ndarray, *, tr: float, band: tuple[float, float] = BAND) -> np.ndarray:
    """Detrended, band-passed and z-scored (time x voxels) series (nilearn's filter).

    The zero-phase filter pads each end by scipy's default (33 volumes for nilearn's
    order-5 band-pass); a shorter series is padded by its length minus one instead, the
    most ``filtfilt`` allows, so a 60-volume run's halves are filtered rather than refused.
    """
    from nilearn.signal import clean

    if len(series) < MIN_HALF_VOLUMES:
        raise ValueError(
            f"{len(series)} volumes are too few to band-pass (at least {MIN_HALF_VOLUMES})"
        )
    return clean(
        series,
        t_r=tr,
        detrend=True,
        standardize="zscore_sample",
        low_pass=band[1],
        high_pass=band[0],
        filter="butterworth",
        butterworth__padlen=min(FILTER_PADDING, len(series) - 1),
        # filter all columns in one call (nilearn's in-place default filters one voxel at
        # a time: 90 % of a run's time); the same numbers
        butterworth__copy=True,
    )


def seed_correlation(search: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """Pearson correlation of every (time x voxels) column of ``search`` with ``seed``."""
    search = search - search.mean(axis=0)
    seed = seed - seed.mean()
    denominator = np.sqrt((search**2).sum(axis=0) * (seed**2).sum())
    return np.where(denominator > 0, search.T @ seed / np.where(denominator > 0, denominator, 1), 0)


def anticorrelated_cluster(
    correlation: np.ndarray, region: np.ndarray, coordinates: np.ndarray, *, fraction: float
) -> dict[str, float]:
    """The target by the cluster rule of the module docstring.

    Parameters
    ----------
    correlation : ndarray
        Seed correlation of every voxel of ``region`` (in ``region``'s flat order).
    region : ndarray of bool, 3-D
        The search region.
    coordinates : ndarray, shape (*region.shape, 3)
        MNI coordinates of the grid.
    fraction : float
        Share of the search region (most anticorrelated) that may form clusters.

    Returns
    -------
    dict
        ``x``, ``y``, ``z`` (mm), ``correlation`` (mean in the cluster), ``peak_correlation``,
        ``cluster_voxels``.
    """
    threshold = np.quantile(correlation, fraction)
    volume = np.zeros(region.shape)
    volume[region] = correlation
    candidates = region & (volume <= min(threshold, 0.0))
    if not candidates.any():
        return {
            "x": np.nan,
            "y": np.nan,
            "z": np.nan,
            "correlation": np.nan,
            "peak_correlation": float(correlation.min()),
            "cluster_voxels": 0,
        }
    labels, count = ndimage.label(candidates, structure=np.ones((3, 3, 3)))
    weights = np.where(candidates, -volume, 0.0)
    mass = ndimage.sum(weights, labels, index=np.arange(1, count + 1))
    chosen = labels == (int(np.argmax(mass)) + 1)
    # the target is the weighted centre of the chosen cluster's voxels near its peak: when
    # two anticorrelated spots merge into one cluster, the centre of the whole cluster can
    # fall between them, where the anticorrelation is weak; near the peak it cannot
    peak = coordinates[chosen][int(np.argmin(volume[chosen]))]
    near = chosen & (np.linalg.norm(coordinates - peak, axis=-1) <= PEAK_RADIUS)
    centre = (coordinates[near] * weights[near, None]).sum(axis=0) / weights[near].sum()
    return {
        "x": float(centre[0]),
        "y": float(centre[1]),
        "z": float(centre[2]),
        "correlation": float(volume[chosen].mean()),
        "peak_correlation": float(volume[chosen].min()),
        "cluster_voxels": int(chosen.sum()),
    }


def find_target(
    seed_series: np.ndarray,
    search_series: np.ndarray,
    *,
    tr: float,
    search_mask: np.ndarray,
    coordinates: np.ndarray,
    fraction: float = 0.05,
    reliable_distance: float = RELIABLE_DISTANCE,
) -> tuple[dict[str, float], np.ndarray]:
    """The individual target of one run, its distances to the reference sites and the
    split-half distance.

    Parameters
    ----------
    seed_series : ndarray, shape (t, seed voxels)
        BOLD series of the seed voxels.
    search_series : ndarray, shape (t, search voxels)
        BOLD series of the search region, in the flat order of ``search_mask``.
    tr : float
        Repetition time in seconds.
    search_mask : ndarray of bool, 3-D
        The search region (the columns of ``search_series`` are its voxels).
    coordinates : ndarray, shape (*search_mask.shape, 3)
        MNI coordinates of the grid.
    fraction : float
        See :func:`anticorrelated_cluster`.
    reliable_distance : float
        Split-half distance (mm) up to which the target counts as reliable.

    Returns
    -------
    result : dict
        Target, anticorrelation, ``distance_<site>`` for every reference site,
        ``split_half_distance`` and ``reliable``.
    correlation : ndarray
        Seed correlation of every search voxel over the whole run.
    """

    def target(volumes: slice) -> tuple[dict[str, float], np.ndarray]:
        seed = band_passed(seed_series[volumes], tr=tr).mean(axis=1)
        correlation = seed_correlation(band_passed(search_series[volumes], tr=tr), seed)
        found = anticorrelated_cluster(correlation, search_mask, coordinates, fraction=fraction)
        return found, correlation

    n = len(seed_series)
    (whole, correlation), (first, _), (second, _) = (
        target(slice(0, n)),
        target(slice(0, n // 2)),
        target(slice(n // 2, n)),
    )
    result = dict(whole)
    centre = np.array([whole["x"], whole["y"], whole["z"]])
    for name, site in REFERENCE_SITES.items():
        result[f"distance_{name}"] = float(np.linalg.norm(centre - np.asarray(site)))
    halves = np.array([[h["x"], h["y"], h["z"]] for h in (first, second)])
    result["split_half_distance"] = float(np.linalg.norm(halves[0] - halves[1]))
    result["reliable"] = bool(result["split_half_distance"] <= reliable_distance)
    return result, correlation
