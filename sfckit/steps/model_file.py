"""The model file of ``sfckit train`` on disk: written, checked and read by the steps.

``train`` writes the skops file, its SHA-256 (``MODEL.skops.sha256``) and the model card;
``score`` and ``validate`` read it back. Loading is refused before skops builds a single
object when the file names a type outside :data:`TRUSTED_TYPES`, when its checksum differs
from the one recorded at training, or when it comes from another sfckit version. The
fitting and scoring themselves are pure functions of :mod:`sfckit.learn.export`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sfckit.errors import file_error
from sfckit.io.outputs import atomic_write, file_sha256
from sfckit.learn.data import site_text
from sfckit.learn.model_card import card_path, model_card
from sfckit.learn.results import clean_for_json
from sfckit.version import __version__

# Every type a model file written by `sfckit train` contains (the pipelines of
# sfckit.learn.models, ComBat, their fitted attributes and the metadata string). A file
# with any other type is refused before skops builds a single object: skops' own default
# trust covers far more of scikit-learn than sfckit writes, and a name *prefix* such as
# "builtins." would admit exec and eval. test_model_safety trains every model kind and
# checks that its file holds only these types, so a new scikit-learn layout fails the
# tests, not the users.
TRUSTED_TYPES = frozenset(
    {
        "builtins.bool",
        "builtins.bytearray",
        "builtins.dict",
        "builtins.float",
        "builtins.int",
        "builtins.list",
        "builtins.NoneType",
        "builtins.str",
        "builtins.tuple",
        "numpy.bool_",
        "numpy.dtype",
        "numpy.float32",
        "numpy.float64",
        "numpy.int32",
        "numpy.int64",
        "numpy.ndarray",
        "sklearn.calibration.CalibratedClassifierCV",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.feature_selection._univariate_selection.SelectKBest",
        "sklearn.feature_selection._univariate_selection.f_classif",
        "sklearn.impute._base.SimpleImputer",
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.model_selection._split.StratifiedKFold",
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.svm._classes.SVC",
        "sfckit.learn.harmonize.ComBat",
        "xgboost.core.Booster",
        "xgboost.sklearn.XGBClassifier",
    }
)


def features_provenance(features_path: Path) -> dict[str, Any]:
    """Atlas and SFC method recorded next to a feature table by ``extract``."""
    description = Path(features_path).parent / "dataset_description.json"
    if not description.is_file():
        raise file_error(
            features_path,
            "no dataset_description.json beside the features",
            expected="features written by sfckit extract (their provenance names atlas and method)",
            fix="score features produced by sfckit extract",
        )
    generated = json.loads(description.read_text())["GeneratedBy"][0]
    return {
        "atlas": generated["Parameters"].get("atlas"),
        "method": generated["Parameters"].get("method"),
    }


def checksum_path(model_path: Path) -> Path:
    """The ``sha256sum``-format file written beside a model (``model.skops.sha256``)."""
    return model_path.with_name(model_path.name + ".sha256")


def save_model(
    model_path: Path, estimator: Any, metadata: dict[str, Any], training: pd.DataFrame
) -> dict[str, Any]:
    """Write the skops file, its checksum and the model card; returns the metadata with
    its ``sha256``.

    Parameters
    ----------
    model_path : Path
        The ``.skops`` file to write.
    estimator : estimator
        The fitted pipeline.
    metadata : dict
        What the file carries beside the pipeline (:func:`sfckit.learn.export.fit_final`).
    training : DataFrame
        The clinical table of the participants the model was fitted on (for the card).
    """
    import skops.io as sio

    payload = sio.dumps({"pipeline": estimator, "metadata": json.dumps(clean_for_json(metadata))})
    with atomic_write(model_path, "wb") as handle:
        handle.write(payload)
    metadata = {**metadata, "sha256": hashlib.sha256(payload).hexdigest()}
    with atomic_write(checksum_path(model_path)) as handle:
        handle.write(f"{metadata['sha256']}  {model_path.name}\n")
    with atomic_write(card_path(model_path)) as handle:
        handle.write(model_card(metadata, training))
    return metadata


def file_types(model_path: Path) -> set[str]:
    """Every ``module.class`` named anywhere in a skops file's schema (read, not loaded).

    Raises
    ------
    UserError
        The file is not a skops archive.
    """
    import zipfile

    try:
        with zipfile.ZipFile(model_path) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, UnicodeDecodeError, OSError) as exc:
        raise file_error(
            model_path,
            f"not an sfckit model ({type(exc).__name__})",
            expected="a .skops file written by sfckit train",
            fix="only load models written by sfckit train",
        ) from None
    found: set[str] = set()
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            module, name = node.get("__module__"), node.get("__class__")
            if module is not None or name is not None:
                found.add(f"{module}.{name}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def load_model(model_path: str | Path) -> tuple[Any, dict[str, Any]]:
    """Load a model saved by ``sfckit train``; any type it does not write is refused.

    Raises
    ------
    UserError
        Missing file, not a skops archive, a type outside :data:`TRUSTED_TYPES` (named),
        or a model from another sfckit version.
    """
    import skops.io as sio

    model_path = Path(model_path)
    if not model_path.is_file():
        raise file_error(
            model_path, "the model file does not exist", fix="check --model", missing=True
        )
    unexpected = sorted(file_types(model_path) - TRUSTED_TYPES)
    if unexpected:
        raise file_error(
            model_path,
            f"the model file contains type(s) sfckit train never writes: "
            f"{', '.join(unexpected[:5])}; it was not loaded",
            expected="only the types of sfckit's own pipelines",
            fix="only load models written by sfckit train (and check where this file came from)",
        )
    try:
        untrusted = sio.get_untrusted_types(file=model_path)
        content = sio.load(model_path, trusted=[t for t in untrusted if t in TRUSTED_TYPES])
        metadata = json.loads(content["metadata"])
    except Exception as exc:  # skops raises many types for foreign or corrupt files
        raise file_error(
            model_path,
            f"not an sfckit model ({type(exc).__name__})",
            fix="only load models written by sfckit train",
        ) from None
    if metadata.get("sfckit_version") != __version__:
        raise file_error(
            model_path,
            f"the model was trained with sfckit {metadata.get('sfckit_version')}",
            expected=f"a model from sfckit {__version__}",
            fix="retrain the model with this sfckit version (sfckit train)",
        )
    return content["pipeline"], metadata


def verified_sha256(model_path: Path) -> str:
    """The model file's SHA-256, checked against the one ``train`` recorded beside it."""
    sha256 = file_sha256(model_path)
    recorded = checksum_path(model_path)
    if recorded.is_file() and recorded.read_text().split()[:1] != [sha256]:
        raise file_error(
            model_path,
            f"its SHA-256 {sha256[:16]}... differs from the one recorded at training in {recorded}",
            expected="the file sfckit train wrote",
            fix="use the original model file, or retrain it",
        )
    return sha256


def check_provenance(features_path: Path, metadata: dict[str, Any]) -> None:
    """Refuse features from another atlas or SFC method than the model's."""
    provenance = features_provenance(features_path)
    for key in ("atlas", "method"):
        if provenance[key] != metadata[key]:
            raise file_error(
                features_path,
                f"features from {key} '{provenance[key]}'",
                expected=f"the model's {key} '{metadata[key]}'",
                fix="extract the new participants with the atlas and method of the training cohort",
            )


def read_tables(
    features_path: Path | None,
    manifest_path: Path | None,
    *,
    min_coverage: float | None = None,
) -> tuple[pd.DataFrame | None, pd.DataFrame, list[str]]:
    """Features and manifest rows of the same participants (both indexed by participant).

    Parameters
    ----------
    features_path : Path, optional
        A regional table (None: a clinical-only model needs none).
    manifest_path : Path, optional
        The manifest (None: the features' participants, without clinical columns).
    min_coverage : float, optional
        Drop regions with values for fewer than this share of participants (training);
        None keeps every column (a validation site's table is checked against the model).

    Returns
    -------
    features, clinical, dropped
        ``features`` is None without ``features_path``; ``dropped`` the regions left out.
    """
    import warnings

    from sfckit.io.manifest import read_manifest
    from sfckit.io.tables import drop_sparse_regions, read_feature_table
    from sfckit.stats.design import align_features

    table, dropped = None, []
    if features_path is not None:
        table = read_feature_table(features_path)
        if min_coverage is not None:
            table, frame = drop_sparse_regions(
                table, min_coverage=min_coverage, source=str(features_path)
            )
            dropped = list(frame["region"])
    if manifest_path is None:
        ids = table["participant_id"].astype(str)
        features = table.set_index(ids.rename("participant_id")).drop(columns="participant_id")
        return features, pd.DataFrame(index=features.index), dropped
    # the site's images are not read (its features come as a table): no image columns needed
    clinical = read_manifest(manifest_path, check_files=False, images=False).clinical()
    if table is None:
        ids = clinical["participant_id"].astype(str).rename("participant_id")
        return None, clinical.set_index(ids).drop(columns="participant_id"), dropped
    features, clinical = align_features(
        table,
        clinical,
        features_source=str(features_path),
        clinical_source=str(manifest_path),
    )
    empty = features.isna().all(axis=1).to_numpy()
    if empty.any():
        warnings.warn(
            f"{features_path}: {int(empty.sum())} participant(s) have no feature values (failed "
            f"extraction?) and are left out: {', '.join(features.index[empty][:10])}; see "
            "failures.tsv",
            UserWarning,
            stacklevel=2,
        )
        features, clinical = features.loc[~empty], clinical.loc[~empty]
    return features, clinical, dropped


def only_sites(
    clinical: pd.DataFrame, column: str | None, sites: tuple[str, ...], *, source: Path
) -> np.ndarray:
    """Which rows belong to ``sites`` of ``column`` (all rows when no sites are named)."""
    if not sites:
        return np.ones(len(clinical), dtype=bool)
    if column not in clinical.columns:
        raise file_error(
            source, f"no column '{column}'", fix="name the site column with --site-column"
        )
    values = site_text(clinical[column])
    unknown = [s for s in sites if s not in set(values)]
    if unknown:
        raise file_error(
            source,
            f"site(s) {', '.join(unknown)} do not occur in '{column}'",
            expected=f"some of {', '.join(sorted(set(values)))}",
            fix="correct --sites",
        )
    return np.isin(values, sites)


def model_matrix(
    metadata: dict[str, Any],
    features_path: Path | None,
    manifest_path: Path | None,
    *,
    site_column: str | None,
    option: str,
) -> tuple[np.ndarray, pd.Series, np.ndarray | None]:
    """A saved model's input matrix for new participants, after every check.

    Features from another atlas or method, or with other regions, are refused; a model with
    clinical columns or ComBat needs the manifest (``option`` names it in the message).

    Returns
    -------
    X, participant_ids, sites
        ``sites`` from ``site_column`` of the manifest (None without one).
    """
    needs_manifest = bool(metadata.get("clinical") or metadata.get("harmonization"))
    if needs_manifest and manifest_path is None:
        raise file_error(
            features_path or "the model",
            "the model uses clinical columns or ComBat, which are read from the manifest",
            fix=f"give the new participants' manifest with {option}",
        )
    features = None
    if metadata["features"]:
        if features_path is None:
            raise file_error(
                manifest_path,
                f"the model uses {len(metadata['features'])} regional features",
                fix="give the new participants' regional table with --features",
            )
        check_provenance(features_path, metadata)
    from sfckit.learn.export import check_regions, model_inputs

    table, clinical, _ = read_tables(features_path if metadata["features"] else None, manifest_path)
    if metadata["features"]:
        features = check_regions(metadata, table, source=str(features_path))
    column = site_column or (metadata.get("harmonization") or {}).get("site_column")
    sites = None
    if manifest_path is not None and column:
        if column in clinical.columns:
            sites = site_text(clinical[column])
        elif site_column:
            raise file_error(
                manifest_path,
                f"no column '{column}'",
                expected="a column naming each participant's site",
                fix="name it with --site-column, or leave out --manifest (pooled calibration)",
            )
    if sites is None and metadata.get("harmonization"):
        sites = np.full(len(clinical), "external")  # one new site: mapped from its own rows

    X = model_inputs(metadata, features, clinical, sites=sites, source=str(manifest_path))
    ids = pd.Series(clinical.index.astype(str), name="participant_id")
    return X, ids, sites
