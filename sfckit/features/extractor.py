"""Regional SFC as a scikit-learn transformer, for use inside others' pipelines.

:class:`SFCExtractor` turns pairs of images, ``(gray-matter map, ALFF map)``, into one row
of regional structure-function coupling per pair, with the same code and numbers as
``sfckit extract`` (:func:`sfckit.features.participant.extract_participant`). It learns
nothing from the data: ``fit`` resolves the atlas and checks the images' grid, so it is
safe inside cross-validation. scikit-learn's generic estimator checks assume 2-D numeric
input and mostly do not apply; the ones that do (construction, parameters, cloning) are
run in its tests.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from sfckit.declarations.names import DEFAULT_METHOD, DEFAULT_MIN_VOXELS
from sfckit.errors import UserError

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

    Attributes
    ----------
    atlas_ : sfckit.io.atlases.Atlas
        The resolved atlas.
    feature_names_out_ : ndarray of str
        Region names, in output order (the columns of ``sfc.tsv``).
    n_features_in_ : int
        2: each sample is one (GM, ALFF) pair.

    Examples
    --------
    >>> import sfckit
    >>> cohort = sfckit.simulate_cohort(n_trd=3, n_ntrd=3, n_hc=3, resolution=6.0)
    >>> table = cohort["manifest"]
    >>> gm, alff = cohort.folder / table["gmv"], cohort.folder / table["alff"]
    >>> sfc = SFCExtractor().fit_transform(list(zip(gm, alff, strict=True)))
    >>> sfc.shape  # 9 participants, 111 Harvard-Oxford regions
    (9, 111)
    """

    def __init__(
        self,
        atlas: str = "harvard-oxford",
        atlas_labels: str | Path | None = None,
        method: str = DEFAULT_METHOD,
        min_voxels: int = DEFAULT_MIN_VOXELS,
        gm_threshold: float = 0.2,
    ) -> None:
        self.atlas = atlas
        self.atlas_labels = atlas_labels
        self.method = method
        self.min_voxels = min_voxels
        self.gm_threshold = gm_threshold

    def __sklearn_tags__(self):  # noqa: D105 (scikit-learn's hook)
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True  # file paths
        tags.requires_fit = True
        return tags

    def fit(self, X: Sequence[tuple[ImageLike, ImageLike]], y: Any = None) -> SFCExtractor:
        """Resolve the atlas and the settings (nothing is learnt from the images).

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
        )
        if METHODS[self.method].needs_bold:
            raise UserError(
                f"SFCExtractor: method {self.method!r} needs BOLD runs, not ALFF maps",
                fix="choose another method, or use sfckit.extract with a manifest of BOLD runs",
            )
        _pairs(X)
        self.atlas_ = load_atlas(self.atlas, self.atlas_labels)
        self.feature_names_out_ = np.asarray(self.atlas_.region_names, dtype=object)
        self.n_features_in_ = 2
        return self

    def transform(self, X: Sequence[tuple[ImageLike, ImageLike]]) -> np.ndarray:
        """Regional SFC of each pair.

        Parameters
        ----------
        X : sequence of (GM, ALFF) pairs
            File paths or nibabel images on one grid (GM and ALFF of a pair on the same grid).

        Returns
        -------
        ndarray of shape (n_pairs, n_regions)
            SFC per region, NaN where a region has fewer than ``min_voxels`` valid voxels.
        """
        from sfckit.features.participant import extract_participant
        from sfckit.io.images import Grid, load_image

        check_is_fitted(self, "atlas_")
        pairs = _pairs(X)
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
        raise UserError(
            f"SFCExtractor: X is {type(X).__name__}", expected=expected, fix=fix
        ) from None
    if not pairs:
        raise UserError("SFCExtractor: X is empty", expected=expected, fix=fix)
    for position, pair in enumerate(pairs):
        if len(pair) != 2 or not all(isinstance(i, str | Path | nib.Nifti1Image) for i in pair):
            raise UserError(
                f"SFCExtractor: X[{position}] is {pair!r:.80}", expected=expected, fix=fix
            )
    return pairs


def _as_file(image: ImageLike, path: Path) -> Path:
    """A path stays a path; an in-memory image is saved (the extraction reads files)."""
    if isinstance(image, nib.Nifti1Image):
        nib.save(image, path)
        return path
    return Path(image)
