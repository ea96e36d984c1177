"""Structure–function coupling (SFC) methods behind one registry (pure numeric, no I/O).

Every method is registered here with its kind, which says what it is given:

- ``regional``: the gray-matter voxels of one participant — GMV values, ALFF values and
  region positions, all of shape (n_voxels,) — and returns one coupling value per region
  (:func:`coupling` adds the valid-voxel counts, NaN for sparse regions and one
  :class:`~sfckit.errors.SparseRegionWarning` naming them);
- ``network``: GMV values, the BOLD time series of the same voxels, their labels, the
  regions and ``min_voxels``; returns coupling and valid voxels per region (needs BOLD);
- ``map``: GMV and ALFF volumes, the usable mask, a sphere footprint and ``min_voxels``;
  returns a voxel map (written per participant) whose regional means are the coupling.

A new method is added by decorating its function with :func:`register_method` in its own
module and importing that module at the end of this one.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sfckit.errors import SparseRegionWarning
from sfckit.features.regional import grouped_mean, region_positions

DEFAULT_METHOD = "voxel-correlation"
DEFAULT_MIN_VOXELS = 10
_R_CLIP = 1.0 - 1e-7


METHOD_KINDS = ("regional", "network", "map")


@dataclass(frozen=True)
class CouplingMethod:
    """A registered SFC method (see the module docs for what each kind receives)."""

    name: str
    function: Callable[..., Any]
    description: str
    kind: str = "regional"

    @property
    def needs_bold(self) -> bool:
        """Whether the method needs the BOLD time series (not only an ALFF map)."""
        return self.kind == "network"

    @property
    def writes_map(self) -> bool:
        """Whether the method produces a voxel map per participant."""
        return self.kind == "map"


METHODS: dict[str, CouplingMethod] = {}


def register_method(name: str, description: str, *, kind: str = "regional") -> Callable:
    """Register a function as the SFC method ``name`` of ``kind`` (see the module docs)."""
    if kind not in METHOD_KINDS:
        raise ValueError(f"unknown method kind {kind!r}; choose one of {METHOD_KINDS}")

    def decorator(function: Callable[..., Any]) -> Callable[..., Any]:
        METHODS[name] = CouplingMethod(name, function, description, kind)
        return function

    return decorator


def coupling(
    *,
    gmv: np.ndarray,
    alff: np.ndarray,
    labels: np.ndarray,
    regions: Sequence[int],
    region_names: Sequence[str] | None = None,
    method: str = DEFAULT_METHOD,
    min_voxels: int = DEFAULT_MIN_VOXELS,
) -> tuple[np.ndarray, np.ndarray]:
    """Regional SFC of one participant.

    Parameters
    ----------
    gmv, alff : ndarray of shape (n_voxels,)
        Gray-matter volume and ALFF of the participant's gray-matter voxels. Voxels where
        either is not finite are ignored.
    labels : ndarray of int, shape (n_voxels,)
        Atlas label of each voxel (0 = none).
    regions : sequence of int
        Label values to report, in output order.
    region_names : sequence of str, optional
        Names used in the warning about sparse regions (default: the label values).
    method : str
        A key of :data:`METHODS`.
    min_voxels : int
        Regions with fewer valid voxels get NaN.

    Returns
    -------
    values : ndarray of shape (n_regions,)
        Coupling per region (NaN where undefined).
    n_valid : ndarray of int, shape (n_regions,)
        Valid voxels per region.
    """
    if method not in METHODS or METHODS[method].kind != "regional":
        regional = sorted(m for m, spec in METHODS.items() if spec.kind == "regional")
        raise ValueError(f"'{method}' is not a regional SFC method; choose one of {regional}")
    gmv = np.asarray(gmv, dtype=np.float64)
    alff = np.asarray(alff, dtype=np.float64)
    labels = np.asarray(labels)
    if not (gmv.shape == alff.shape == labels.shape) or gmv.ndim != 1:
        raise ValueError(
            f"gmv, alff and labels must be 1-D of equal length; got {gmv.shape}, "
            f"{alff.shape}, {labels.shape}"
        )
    regions = np.asarray(regions, dtype=np.int64)
    valid = np.isfinite(gmv) & np.isfinite(alff)
    position = region_positions(labels[valid], regions)
    n_valid = np.bincount(position[position >= 0], minlength=len(regions))
    values = METHODS[method].function(gmv[valid], alff[valid], position, len(regions))
    values = np.where(n_valid >= min_voxels, values, np.nan)
    sparse = np.flatnonzero(n_valid < min_voxels)
    if sparse.size:
        names = region_names if region_names is not None else [str(r) for r in regions]
        listed = ", ".join(f"{names[i]} ({n_valid[i]})" for i in sparse[:20])
        more = f" and {sparse.size - 20} more" if sparse.size > 20 else ""
        warnings.warn(
            f"{sparse.size} region(s) have fewer than {min_voxels} valid gray-matter voxels "
            f"and are NaN: {listed}{more}; lower min_voxels or the gray-matter threshold, "
            "or use a coarser atlas",
            SparseRegionWarning,
            stacklevel=2,
        )
    return values, n_valid


@register_method(
    "voxel-correlation",
    "Fisher-z of the Pearson correlation between GMV and ALFF across a region's voxels",
)
def voxel_correlation(
    gmv: np.ndarray, alff: np.ndarray, position: np.ndarray, n_regions: int
) -> np.ndarray:
    """Fisher-z Pearson correlation per region (two-pass, centred sums)."""
    keep = position >= 0
    gmv, alff, position = gmv[keep], alff[keep], position[keep]
    gmv_centred = gmv - grouped_mean(gmv, position, n_regions)[position]
    alff_centred = alff - grouped_mean(alff, position, n_regions)[position]
    cross = np.bincount(position, weights=gmv_centred * alff_centred, minlength=n_regions)
    gmv_ss = np.bincount(position, weights=gmv_centred**2, minlength=n_regions)
    alff_ss = np.bincount(position, weights=alff_centred**2, minlength=n_regions)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cross / np.sqrt(gmv_ss * alff_ss)
    r = np.where((gmv_ss > 0) & (alff_ss > 0), r, np.nan)
    return np.arctanh(np.clip(r, -_R_CLIP, _R_CLIP))


@register_method(
    "voxel-spearman",
    "Fisher-z of the Spearman rank correlation between GMV and ALFF across a region's voxels",
)
def voxel_spearman(
    gmv: np.ndarray, alff: np.ndarray, position: np.ndarray, n_regions: int
) -> np.ndarray:
    """Rank both modalities within each region (ties averaged), then Fisher-z Pearson."""
    gmv_ranks = np.full(gmv.shape, np.nan)
    alff_ranks = np.full(alff.shape, np.nan)
    for region in np.unique(position[position >= 0]):
        inside = position == region
        from scipy.stats import rankdata  # imported here: scipy.stats is slow to import

        gmv_ranks[inside] = rankdata(gmv[inside])
        alff_ranks[inside] = rankdata(alff[inside])
    return voxel_correlation(gmv_ranks, alff_ranks, position, n_regions)


KL_GRID_POINTS = 256


@register_method(
    "kl-similarity",
    "exp(-symmetric KL divergence) between the kernel-density estimates of a region's "
    "z-scored GMV and z-scored ALFF voxel values",
)
def kl_similarity(
    gmv: np.ndarray, alff: np.ndarray, position: np.ndarray, n_regions: int
) -> np.ndarray:
    """Distributional similarity of GMV and ALFF per region (Kong et al. 2014 style).

    Each modality is z-scored over all of the participant's gray-matter voxels; per region,
    Gaussian kernel-density estimates (Scott's bandwidth) of the two value distributions
    are evaluated on a common grid of :data:`KL_GRID_POINTS` points spanning both samples
    plus three bandwidths, normalised to probability vectors, and compared by the symmetric
    Kullback–Leibler divergence; similarity = exp(-KL), 1 for identical distributions.
    """
    gmv_z = (gmv - gmv.mean()) / gmv.std()
    alff_z = (alff - alff.mean()) / alff.std()
    in_regions = np.flatnonzero((position >= 0) & (position < n_regions))
    small = np.int16 if n_regions < 2**15 else np.int64  # numpy radix-sorts 16-bit keys
    order = in_regions[np.argsort(position[in_regions].astype(small), kind="stable")]
    counts = np.bincount(position[order], minlength=n_regions)
    return _kl_similarities((gmv_z[order], counts), (alff_z[order], counts))


def kl_similarity_of_samples(first: np.ndarray, second: np.ndarray) -> float:
    """exp(-symmetric KL) between KDEs of two 1-D samples (NaN for degenerate samples)."""
    first, second = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    return float(
        _kl_similarities((first, np.array([first.size])), (second, np.array([second.size])))[0]
    )


FINE_STEPS_PER_BANDWIDTH = 20  # fine-grid resolution of the binned KDE (error ~1e-5)
MAX_FINE_POINTS = 1 << 16  # beyond this, a region's KDEs are summed exactly at the KL grid
KDE_FFT_BYTES = 64 << 20  # work arrays of one batch of FFTs


def _kl_similarities(
    first: tuple[np.ndarray, np.ndarray], second: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """exp(-symmetric KL) per region between two samples, each given as (values sorted by
    region, count per region); NaN where a sample has < 3 values or no spread.

    The binned KDE needs a fine grid that resolves the narrower bandwidth: each region gets
    the smallest power-of-two subdivision of the KL grid with at least
    :data:`FINE_STEPS_PER_BANDWIDTH` steps per bandwidth (typical regions 2-4, a skewed
    region with far outliers more), and regions with the same subdivision share batched
    FFTs. A region that would need more than :data:`MAX_FINE_POINTS` is summed exactly.
    """
    samples = []
    for values, counts in (first, second):
        region_of = np.repeat(np.arange(counts.size), counts)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int)
        low, sd, high = _region_moments(values, region_of, counts.size)
        bandwidth = sd * np.maximum(counts, 1) ** (-0.2)  # Scott's rule, as gaussian_kde
        samples.append((values, counts, starts, low, high, bandwidth))
    n_regions = first[1].size
    usable = np.ones(n_regions, dtype=bool)
    for _, counts, _, low, high, _ in samples:
        usable &= (counts >= 3) & (high > low)
    pad = 3.0 * np.maximum(samples[0][5], samples[1][5])
    grid_low = np.minimum(samples[0][3], samples[1][3]) - pad
    grid_high = np.maximum(samples[0][4], samples[1][4]) + pad
    kl_step = (grid_high - grid_low) / (KL_GRID_POINTS - 1)
    narrowest = np.minimum(samples[0][5], samples[1][5])
    with np.errstate(divide="ignore", invalid="ignore"):
        needed = np.ceil(FINE_STEPS_PER_BANDWIDTH * kl_step / narrowest)
    subdivision = np.where(
        usable, 2 ** np.ceil(np.log2(np.clip(np.nan_to_num(needed, nan=1.0), 1, 2**30))), 0
    ).astype(np.int64)
    exact = usable & ((KL_GRID_POINTS - 1) * subdivision + 1 > MAX_FINE_POINTS)
    similarity = np.full(n_regions, np.nan)

    def densities(block: np.ndarray, sub: int | None) -> list[np.ndarray]:
        out = []
        for values, counts, starts, *_, bandwidth in samples:
            rows = np.concatenate([np.arange(starts[r], starts[r] + counts[r]) for r in block])
            local = np.repeat(np.arange(block.size), counts[block])
            args = (values[rows], local, grid_low[block], grid_high[block], bandwidth[block])
            if sub is None:
                density = _exact_kdes(*args, counts[block])
            else:
                density = _binned_kdes(*args, counts[block], subdivision=sub)
            density = np.maximum(density, 1e-12)
            out.append(density / density.sum(axis=1, keepdims=True))
        return out

    batches = [(np.flatnonzero(exact), None)]
    for sub in np.unique(subdivision[usable & ~exact]):
        members = np.flatnonzero(usable & ~exact & (subdivision == sub))
        fft_bytes = 16 * 16 * ((KL_GRID_POINTS - 1) * int(sub) + 1)  # ~4 arrays of 4 n_fine
        per_batch = max(1, KDE_FFT_BYTES // fft_bytes)
        batches += [
            (members[i : i + per_batch], int(sub)) for i in range(0, members.size, per_batch)
        ]
    for block, sub in batches:
        if block.size == 0:
            continue
        p, q = densities(block, sub)
        divergence = np.sum(p * np.log(p / q), axis=1) + np.sum(q * np.log(q / p), axis=1)
        similarity[block] = np.exp(-divergence)
    return similarity


def _exact_kdes(
    sample: np.ndarray,
    region: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    bandwidth: np.ndarray,
    n: np.ndarray,
) -> np.ndarray:
    """Gaussian KDEs summed exactly at the :data:`KL_GRID_POINTS` points of [low, high]
    (what ``scipy.stats.gaussian_kde`` evaluates), one region at a time."""
    out = np.empty((low.size, KL_GRID_POINTS))
    for index in range(low.size):
        points = np.linspace(low[index], high[index], KL_GRID_POINTS)
        values = sample[region == index]
        total = np.zeros(KL_GRID_POINTS)
        for start in range(0, values.size, 8192):  # bounded (256 x 8192) work array
            z = (points[:, None] - values[None, start : start + 8192]) / bandwidth[index]
            total += np.exp(-0.5 * z**2).sum(axis=1)
        out[index] = total / (n[index] * bandwidth[index] * np.sqrt(2 * np.pi))
    return out


def _region_moments(
    values: np.ndarray, region_of: np.ndarray, n_regions: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per region: minimum, SD (ddof 1) and maximum."""
    n = np.bincount(region_of, minlength=n_regions).astype(float)
    mean = np.bincount(region_of, weights=values, minlength=n_regions) / np.maximum(n, 1)
    squares = np.bincount(region_of, weights=(values - mean[region_of]) ** 2, minlength=n_regions)
    sd = np.sqrt(squares / np.maximum(n - 1, 1))
    low = np.full(n_regions, np.inf)
    high = np.full(n_regions, -np.inf)
    np.minimum.at(low, region_of, values)
    np.maximum.at(high, region_of, values)
    return low, sd, high


def _binned_kdes(
    sample: np.ndarray,
    region: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    bandwidth: np.ndarray,
    n: np.ndarray,
    *,
    subdivision: int,
) -> np.ndarray:
    """Gaussian KDEs, one per region, at the :data:`KL_GRID_POINTS` points of [low, high].

    Linear binning onto a grid ``subdivision`` times finer, convolved with the
    Gaussian kernel by FFT (Silverman 1982): O(grid log grid) instead of
    O(sample x grid), all regions of a block in one batched FFT; the KL grid points are
    points of the fine grid. No maintained library bins onto a grid given per
    sample (KDEpy and statsmodels choose their own grid), hence written here.
    """
    n_fine = (KL_GRID_POINTS - 1) * subdivision + 1
    step = (high - low) / (n_fine - 1)
    position = (sample - low[region]) / step[region]
    left = np.clip(np.floor(position).astype(np.int64), 0, n_fine - 2)
    right_weight = position - left
    flat = region * n_fine + left
    size = low.size * n_fine
    weights = np.bincount(flat, weights=1 - right_weight, minlength=size)
    weights += np.bincount(flat + 1, weights=right_weight, minlength=size)
    weights = weights.reshape(low.size, n_fine)
    # Circular convolution with the Gaussian's spectrum: the periodic sampled kernel's DFT
    # is (1/step) exp(-2 pi^2 (h/step)^2 (k/L)^2) (Poisson summation; the aliases vanish
    # because h >= 20 steps). The length leaves 10 bandwidths between the grid's ends, so
    # wrapped-around kernel mass is below e^-50 of the peak.
    widths = bandwidth / step
    length = 1 << int(n_fine + np.ceil(10 * widths.max())).bit_length()
    frequency = np.arange(length // 2 + 1) / length
    kernel_spectrum = np.exp(-2 * np.pi**2 * (widths[:, None] * frequency[None, :]) ** 2)
    kernel_spectrum /= step[:, None]
    spectrum = np.fft.rfft(weights, length, axis=1) * kernel_spectrum
    density = np.fft.irfft(spectrum, length, axis=1)[:, :n_fine] / n[:, None]
    return density[:, ::subdivision]


# Methods of the other kinds live in their own modules; importing them registers them.
from sfckit.features import profile, searchlight  # noqa: E402, F401, I001
