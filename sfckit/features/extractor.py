"""Regional SFC as a scikit-learn transformer, for use inside others' pipelines.

:class:`SFCExtractor` turns pairs of images, ``(gray-matter map, ALFF map)``, into one row
of regional structure-function coupling per pair, with the same code and numbers as
``sfckit extract`` (:func:`sfckit.features.participant.extract_participant`).

Missing regions: a region with fewer than ``min_voxels`` valid gray-matter voxels in a
pair has no SFC for it (``sfckit extract`` writes NaN there). A scikit-learn pipeline
needs numbers, so by default (``fill="mean"``) ``fit`` learns each region's mean over the
training pairs and ``transform`` puts it in the missing places, with a
:class:`~sfckit.errors.SparseRegionWarning` naming the regions; a region missing in every
training pair is filled with 0 (a constant column a scaler leaves at 0). Only the means
are learnt, from the training pairs alone, so the extractor stays leakage-safe inside
cross-validation. ``fill=0.0`` (any number) fills that number instead, and ``fill=None``
keeps the NaNs (for an imputer of the user's choice).

scikit-learn's generic estimator checks feed 2-D numeric arrays; the tests run those that
apply to image pairs, re-do the others' properties with image pairs, and list the rest
with the reason they cannot apply.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from sfckit.declarations.names import DEFAULT_METHOD, DEFAULT_MIN_VOXELS
from sfckit.errors import SparseRegionWarning, UserError, UserTypeError, caller_stacklevel

ImageLike = str | Path | nib.Nifti1Image


class SFCExtractor(TransformerMixin, BaseEstimator):
    """Regional GMV-ALFF coupling from (GM, ALFF) image pairs.

    Parameters
    ----------
    atlas : str
        ``"harvard-oxford"``, ``"aal"`` or the path of a label image.
    atlas_labels : str or Path, optional
        The labels TSV of a custom atlas image (``index``, ``name``).
    method : str
        The SFC method (``sfckit extract --method``); methods that need BOLD runs are not
        available here.
    min_voxels : int
        Regions with fewer valid gray-matter voxels are NaN for that pair.
    gm_threshold : float
        Gray-matter mask: voxels whose GM value exceeds this.
    fill : "mean", float or None
        What a missing region (fewer than ``min_voxels`` valid voxels in a pair) becomes:
        ``"mean"`` its mean over the pairs ``fit`` saw (0 for a region missing in all of
        them), a number, or None to keep NaN. Filled regions are named in a
        :class:`~sfckit.errors.SparseRegionWarning`.

    Attributes
    ----------
    atlas_ : sfckit.io.atlases.Atlas
        The resolved atlas.
    feature_names_out_ : ndarray of str
        Region names, in output order (the columns of ``sfc.tsv``).
    n_features_in_ : int
        2: each sample is one (GM, ALFF) pair.
    fill_values_ : ndarray of shape (n_regions,)
        What each region's missing values become (NaN with ``fill=None``).
    empty_regions_ : list of str
        Regions with no value in any pair ``fit`` saw.

    Examples
    --------
    >>> import sfckit
    >>> cohort = sfckit.simulate_cohort(n_trd=3, n_ntrd=3, n_hc=3, resolution=6.0)
    >>> table = cohort["manifest"]
    >>> gm, alff = cohort.folder / table["gmv"], cohort.folder / table["alff"]
    >>> sfc = SFCExtractor().fit_transform(list(zip(gm, alff, strict=True)))
    >>> sfc.shape  # 9 participants, 111 Harvard-Oxford regions
    (9, 111)
    >>> bool(np.isnan(sfc).any())  # regions too small on a 6 mm grid: filled
    False
    """

    def __init__(
        self,
        atlas: str = "harvard-oxford",
        atlas_labels: str | Path | None = None,
        method: str = DEFAULT_METHOD,
        min_voxels: int = DEFAULT_MIN_VOXELS,
        gm_threshold: float = 0.2,
        fill: str | float | None = "mean",
    ) -> None:
        self.atlas = atlas
        self.atlas_labels = atlas_labels
        self.method = method
        self.min_voxels = min_voxels
        self.gm_threshold = gm_threshold
        self.fill = fill

    def __sklearn_tags__(self):  # noqa: D105 (scikit-learn's hook)
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True  # file paths
        tags.requires_fit = True
        return tags

    def fit(self, X: Sequence[tuple[ImageLike, ImageLike]], y: Any = None) -> SFCExtractor:
        """Resolve the atlas and settings, and learn the regions' fill values.

        Parameters
        ----------
        X : sequence of (GM, ALFF) pairs
            File paths or nibabel images, one pair per participant.
        y : None
            Ignored; present for scikit-learn's pipeline protocol.

        Returns
        -------
        SFCExtractor
            ``self``.
        """
        self._fit(X)
        return self

    def fit_transform(self, X: Sequence[tuple[ImageLike, ImageLike]], y: Any = None,
                      **fit_params: Any) -> np.ndarray:  # fmt: skip
        """:meth:`fit` then :meth:`transform`, extracting each pair once.

        Parameters
        ----------
        X : sequence of (GM, ALFF) pairs
            File paths or nibabel images, one pair per participant.
        y : None
            Ignored.
        **fit_params
            Ignored; scikit-learn's signature.

        Returns
        -------
        ndarray of shape (n_pairs, n_regions)
        """
        return self._filled(self._fit(X))

    def transform(self, X: Sequence[tuple[ImageLike, ImageLike]]) -> np.ndarray:
        """Regional SFC of each pair, missing regions filled as ``fill`` says.

        Parameters
        ----------
        X : sequence of (GM, ALFF) pairs
            File paths or nibabel images on one grid (GM and ALFF of a pair on the same grid).

        Returns
        -------
        ndarray of shape (n_pairs, n_regions)
            SFC per region (NaN for a missing region only with ``fill=None``).
        """
        check_is_fitted(self, "atlas_")
        return self._filled(self._extract(_pairs(X)))

    def _fit(self, X: Any) -> np.ndarray:
        """Fit on ``X``; returns its unfilled SFC rows."""
        from sfckit.declarations.base import validate_settings
        from sfckit.declarations.settings import ExtractionParameters
        from sfckit.features.methods import METHODS
        from sfckit.io.atlases import load_atlas

        self.parameters_ = validate_settings(
            ExtractionParameters,
            {
                "method": self.method,
                "min_voxels": self.min_voxels,
                "gm_threshold": self.gm_threshold,
            },
            function="SFCExtractor",
        )
        if METHODS[self.method].needs_bold:
            raise UserError(
                f"SFCExtractor: method {self.method!r} needs BOLD runs, not ALFF maps",
                fix="choose another method, or use sfckit.extract with a manifest of BOLD runs",
            )
        fill = self.fill
        if not (fill is None or fill == "mean" or _is_number(fill)):
            raise UserError(
                f"SFCExtractor: fill={fill!r}",
                expected="'mean', a number or None",
                fix="e.g. SFCExtractor(fill='mean')",
            )
        pairs = _pairs(X)
        self.atlas_ = load_atlas(self.atlas, self.atlas_labels)
        self.feature_names_out_ = np.asarray(self.atlas_.region_names, dtype=object)
        self.n_features_in_ = 2
        rows = self._extract(pairs)
        empty = np.isnan(rows).all(axis=0)
        self.empty_regions_ = [str(n) for n in self.feature_names_out_[empty]]
        if fill == "mean":
            means = np.zeros(rows.shape[1])
            means[~empty] = np.nanmean(rows[:, ~empty], axis=0)
            self.fill_values_ = means
        else:
            self.fill_values_ = np.full(rows.shape[1], np.nan if fill is None else float(fill))
        return rows

    def _filled(self, rows: np.ndarray) -> np.ndarray:
        """``rows`` with missing regions filled, and a warning naming them."""
        missing = np.isnan(rows)
        if self.fill is None or not missing.any():
            return rows
        counts = missing.sum(axis=0)
        pairs = zip(self.feature_names_out_, counts, strict=True)
        named = [f"{name} ({n})" for name, n in pairs if n]
        how = (
            "their mean over the training pairs (0 where no training pair had one)"
            if self.fill == "mean"
            else f"{float(self.fill):g}"
        )
        warnings.warn(
            f"SFCExtractor: {len(named)} region(s) had fewer than {self.min_voxels} valid "
            f"gray-matter voxels in some pairs and were filled with {how} (pairs affected): "
            f"{', '.join(named[:10])}{' ...' if len(named) > 10 else ''}; lower min_voxels "
            "or gm_threshold, use a coarser atlas, or fill=None to keep NaN",
            SparseRegionWarning,
            stacklevel=caller_stacklevel(),
        )
        return np.where(missing, self.fill_values_, rows)

    def _extract(self, pairs: list[tuple[ImageLike, ImageLike]]) -> np.ndarray:
        """Unfilled SFC rows of ``pairs`` (NaN for a missing region)."""
        from sfckit.features.participant import extract_participant
        from sfckit.io.images import Grid, load_image

        regions = self.atlas_.labels["index"].to_numpy()
        names = self.atlas_.region_names
        rows = np.full((len(pairs), len(regions)), np.nan)
        with tempfile.TemporaryDirectory(prefix="sfckit-extractor-") as scratch:
            labels_by_grid: dict[tuple, np.ndarray] = {}
            for position, (gm, alff) in enumerate(pairs):
                gm_path = _as_file(gm, Path(scratch) / f"{position}_gm.nii")
                alff_path = _as_file(alff, Path(scratch) / f"{position}_alff.nii")
                grid = Grid.of(load_image(gm_path, ndim=3, role="gmv"))
                key = (grid.shape, grid.affine.round(6).tobytes())
                if key not in labels_by_grid:
                    labels_by_grid[key] = self.atlas_.labels_on(grid)
                row = {
                    "participant_id": str(position),
                    "gmv": str(gm_path),
                    "alff": str(alff_path),
                    "functional": "alff",
                }
                features = extract_participant(
                    row,
                    labels=labels_by_grid[key],
                    regions=regions,
                    region_names=names,
                    grid=grid,
                    parameters=self.parameters_,
                    map_dir=scratch,
                )
                rows[position] = features.sfc
        return rows

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Region names of the output columns.

        Parameters
        ----------
        input_features : ignored
            The input is image pairs, not named columns.

        Returns
        -------
        ndarray of str
        """
        check_is_fitted(self, "atlas_")
        return self.feature_names_out_.copy()


def _pairs(X: Any) -> list[tuple[ImageLike, ImageLike]]:
    """``X`` as a list of (GM, ALFF) pairs, or a one-line error saying what it should be."""
    expected = "a sequence of (GM image, ALFF image) pairs (paths or nibabel images)"
    fix = "pass list(zip(gm_paths, alff_paths))"
    try:
        pairs = [tuple(pair) for pair in X]
    except TypeError:
        raise UserTypeError(
            f"SFCExtractor: X is {type(X).__name__}", expected=expected, fix=fix
        ) from None
    if not pairs:
        raise UserError("SFCExtractor: X is empty", expected=expected, fix=fix)
    for position, pair in enumerate(pairs):
        if len(pair) != 2 or not all(isinstance(i, str | Path | nib.Nifti1Image) for i in pair):
            raise UserTypeError(
                f"SFCExtractor: X[{position}] is {pair!r:.80}", expected=expected, fix=fix
            )
    return pairs


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool)


def _as_file(image: ImageLike, path: Path) -> Path:
    """A path stays a path; an in-memory image is saved (the extraction reads files)."""
    if isinstance(image, nib.Nifti1Image):
        nib.save(image, path)
        return path
    return Path(image)
