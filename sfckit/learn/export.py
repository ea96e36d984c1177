"""Model export (``sfckit train``) and single-participant scoring (``sfckit score``).

The final pipeline is tuned by an inner cross-validation on the whole training cohort and
refitted on it, then saved with skops (not pickle: loading checks every type against an
allow-list) together with what is needed to use it safely: sfckit version, atlas and SFC
method of the training features, feature names and ranges, the training cohort's class
sizes, and the cross-validated performance when given. Scoring refuses features from
another atlas or method, or a model from another sfckit version, and flags participants
whose features fall outside the training range. Every probability is for research use only.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from sfckit.declarations.settings import TrainSettings
from sfckit.errors import UserError, file_error
from sfckit.io.outputs import atomic_write, file_sha256, write_json, write_tsv
from sfckit.io.tables import read_feature_table
from sfckit.learn.conformal import (
    MIN_PER_CLASS,
    calibrated_sites,
    calibration_record,
    prediction_sets,
)
from sfckit.learn.data import check_fold_counts, load_classification_data, site_labels, site_text
from sfckit.learn.model_card import card_path, model_card
from sfckit.learn.nested import fit_tuned, positive_score, tuning_scoring
from sfckit.learn.results import RESEARCH_NOTICE, clean_for_json
from sfckit.version import __version__

# Every type a model file written by `sfckit train` contains (the pipelines of
# sfckit.learn.models, their fitted attributes and the metadata string). A file with any
# other type is refused before skops builds a single object: skops' own default trust
# covers far more of scikit-learn than sfckit writes, and a name *prefix* such as
# "builtins." would admit exec and eval. test_export trains every model kind and checks
# that its file holds only these types, so a new scikit-learn layout fails the tests, not
# the users.
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
        "xgboost.core.Booster",
        "xgboost.sklearn.XGBClassifier",
    }
)
RANGE_MARGIN = 0.1  # fraction of the training range allowed beyond min/max


def features_provenance(features_path: Path) -> dict[str, Any]:
    """Atlas checksum and SFC method recorded next to a feature table by ``extract``."""
    description = features_path.parent / "dataset_description.json"
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


def train_model(
    features_path: str | Path,
    manifest_path: str | Path,
    model_path: str | Path,
    *,
    settings: TrainSettings,
    performance_path: str | Path | None = None,
) -> dict[str, Any]:
    """Tune and fit the final pipeline on the whole cohort and save it with its metadata.

    Returns
    -------
    dict
        The metadata stored with the model.
    """
    import skops.io as sio

    features_path, model_path = Path(features_path), Path(model_path)
    positive, negative, model = settings.positive, settings.negative, settings.model
    inner, seed, select_k = settings.inner, settings.seed, settings.select_k
    data = load_classification_data(
        features_path,
        manifest_path,
        positive=positive,
        negative=negative,
        min_coverage=settings.min_coverage,
    )
    check_fold_counts(data.y, outer=2, inner=inner, source=str(manifest_path))
    sites = (
        site_labels(data, settings.site_column, source=str(manifest_path), purpose="--site-column")
        if settings.site_column
        else None
    )
    fitted, calibration = _conformal_split(data.y, sites, settings, source=str(manifest_path))
    estimator, search = fit_tuned(
        data.X[fitted],
        data.y[fitted],
        model=model,
        select_k=select_k,
        inner_cv=StratifiedKFold(inner, shuffle=True, random_state=seed),
        seed=seed,
    )
    performance = None
    if performance_path is not None:
        performance = json.loads(Path(performance_path).read_text())
    metadata = {
        "sfckit_version": __version__,
        **features_provenance(features_path),
        "features": data.feature_names,
        "dropped_regions": list(data.dropped_regions["region"]),
        "feature_min": np.nanmin(data.X, axis=0).tolist(),
        "feature_max": np.nanmax(data.X, axis=0).tolist(),
        "positive": positive,
        "negative": negative,
        "model": model,
        "n_positive": int(data.y[fitted].sum()),
        "n_negative": int((1 - data.y[fitted]).sum()),
        "conformal": (
            calibration_record(
                positive_score(estimator, data.X[calibration]),
                data.y[calibration],
                None if sites is None else sites[calibration],
            )
            if calibration.size
            else None
        ),
        "best_params": {k: str(v) for k, v in search.best_params_.items()},
        "inner_cv_score": float(search.best_score_),
        "inner_cv_scoring": tuning_scoring(model),
        "threshold": float(data.y[fitted].mean()),
        "threshold_rule": "the training cohort's prevalence of the positive class",
        "cross_validated_performance": performance,
        "note": RESEARCH_NOTICE,
    }
    payload = sio.dumps({"pipeline": estimator, "metadata": json.dumps(clean_for_json(metadata))})
    with atomic_write(model_path, "wb") as handle:
        handle.write(payload)
    metadata["sha256"] = hashlib.sha256(payload).hexdigest()
    with atomic_write(checksum_path(model_path)) as handle:
        handle.write(f"{metadata['sha256']}  {model_path.name}\n")
    with atomic_write(card_path(model_path)) as handle:
        handle.write(model_card(metadata, data.clinical.iloc[fitted]))  # fitted ones only
    return metadata


def _conformal_split(
    y: np.ndarray, sites: np.ndarray | None, settings: TrainSettings, *, source: str
) -> tuple[np.ndarray, np.ndarray]:
    """Indices fitted and held out for conformal calibration (none held out at fraction 0).

    Stratified by class, and by site within class when every class-site cell has at least
    two participants.
    """
    if not settings.conformal_fraction:
        return np.arange(y.size), np.array([], dtype=int)
    from sklearn.model_selection import StratifiedShuffleSplit

    held_out = np.bincount(y, minlength=2) * settings.conformal_fraction
    if held_out.min() < MIN_PER_CLASS:
        raise UserError(
            f"{source}: --conformal-fraction {settings.conformal_fraction} holds out about "
            f"{held_out.min():.0f} participants of the smaller class",
            expected=f"at least {MIN_PER_CLASS} per class in the calibration set",
            fix="raise --conformal-fraction or leave it at 0 (no prediction sets)",
        )
    split = StratifiedShuffleSplit(
        n_splits=1, test_size=settings.conformal_fraction, random_state=settings.seed
    )
    strata = y.astype(str)
    if sites is not None:
        by_site = np.char.add(np.asarray(sites, dtype=str), strata)
        if np.unique(by_site, return_counts=True)[1].min() >= 2:
            strata = by_site
    fitted, calibration = next(split.split(np.zeros(y.size), strata))
    check_fold_counts(y[fitted], outer=2, inner=settings.inner, source=f"{source} (fitted part)")
    return np.sort(fitted), np.sort(calibration)


def _new_sites(
    manifest_path: str | Path | None, column: str, participant_ids: pd.Series
) -> np.ndarray | None:
    """The new participants' sites from the manifest (``n/a`` where unknown), or None."""
    if manifest_path is None:
        return None
    from sfckit.io.manifest import read_manifest

    manifest = read_manifest(manifest_path, check_files=False).clinical()
    if column not in manifest.columns:
        raise file_error(
            manifest_path,
            f"no column '{column}'",
            expected="a column naming each participant's site",
            fix="name it with --site-column, or leave out --manifest (pooled calibration)",
        )
    return site_text(participant_ids.map(manifest.set_index("participant_id")[column]))


def checksum_path(model_path: Path) -> Path:
    """The ``sha256sum``-format file written beside a model (``model.skops.sha256``)."""
    return model_path.with_name(model_path.name + ".sha256")


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
    """Load a model saved by :func:`train_model`; any type it does not write is refused.

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


def score_participants(
    model_path: str | Path,
    features_path: str | Path,
    out_path: str | Path,
    *,
    coverage: float = 0.9,
    manifest_path: str | Path | None = None,
    site_column: str = "site",
) -> pd.DataFrame:
    """Per-participant probabilities from a saved model, with range flags; writes a TSV.

    When the model was trained with a conformal calibration set, each participant also gets
    class-conditional conformal p-values and a prediction set at ``coverage``; with a
    manifest whose ``site_column`` names their sites, persons from sites calibrated at
    training get site-conditional sets.
    """
    features_path, out_path, model_path = Path(features_path), Path(out_path), Path(model_path)
    pipeline, metadata = load_model(model_path)
    sha256 = file_sha256(model_path)
    recorded = checksum_path(model_path)
    if recorded.is_file() and recorded.read_text().split()[:1] != [sha256]:
        raise file_error(
            model_path,
            f"its SHA-256 {sha256[:16]}... differs from the one recorded at training in {recorded}",
            expected="the file sfckit train wrote",
            fix="use the original model file, or retrain it",
        )
    provenance = features_provenance(features_path)
    for key in ("atlas", "method"):
        if provenance[key] != metadata[key]:
            raise file_error(
                features_path,
                f"features from {key} '{provenance[key]}'",
                expected=f"the model's {key} '{metadata[key]}'",
                fix="extract the new participants with the atlas and method of the training cohort",
            )
    table = read_feature_table(features_path)
    names = metadata["features"]
    missing = [name for name in names if name not in table.columns]
    extra = set(table.columns[1:]) - set(names) - set(metadata.get("dropped_regions", []))
    if missing or extra:
        mismatch = missing[:3] or sorted(extra)[:3]
        raise file_error(
            features_path,
            f"region columns differ from the model's ({'missing' if missing else 'unknown'}: "
            f"{', '.join(mismatch)})",
            fix="extract with the training cohort's atlas",
        )
    X = table[names].to_numpy(dtype=float)
    low, high = np.array(metadata["feature_min"]), np.array(metadata["feature_max"])
    margin = RANGE_MARGIN * (high - low)
    outside = ((X < low - margin) | (X > high + margin)).sum(axis=1)
    probability = positive_score(pipeline, X)
    scores = pd.DataFrame(
        {
            "participant_id": table["participant_id"],
            "probability": probability,
            "predicted": np.where(
                probability >= metadata["threshold"], metadata["positive"], metadata["negative"]
            ),
            "n_features_outside_training_range": outside,
            "outside_training_range": outside > 0,
            "note": RESEARCH_NOTICE,
        }
    )
    pooled: list[str] = []
    if metadata.get("conformal"):
        sites = _new_sites(manifest_path, site_column, table["participant_id"])
        sets = prediction_sets(
            probability,
            calibration=metadata["conformal"],
            coverage=coverage,
            class_names=(metadata["negative"], metadata["positive"]),
            sites=sites,
        )
        scores = pd.concat([scores.drop(columns="note"), sets, scores[["note"]]], axis=1)
        if sites is not None:
            own = calibrated_sites(metadata["conformal"])
            pooled = sorted({str(s) for s in sites} - own)
            unguaranteed = int((sets["calibrated_on"] == "all sites").sum())
            if unguaranteed:
                warnings.warn(
                    f"{unguaranteed} participants (sites {', '.join(pooled)}) were not "
                    "calibrated on their own site and get prediction sets from the pooled "
                    "calibration, whose coverage their site need not have (column "
                    "calibrated_on: 'all sites'); to cover them, train with participants of "
                    "those sites in the conformal share (--conformal-fraction, --site-column)",
                    UserWarning,
                    stacklevel=2,
                )
    write_tsv(scores, out_path)
    scores.attrs["model_sha256"] = sha256
    scores.attrs["coverage"] = coverage if metadata.get("conformal") else None
    scores.attrs["pooled_sites"] = pooled
    card = card_path(model_path)
    scores.attrs["model_card"] = str(card) if card.is_file() else "none beside the model"
    write_json(
        {
            "model": str(model_path),
            "model_sha256": sha256,
            "features": str(features_path),
            "positive": metadata["positive"],
            "note": RESEARCH_NOTICE,
            "n_outside_training_range": int((outside > 0).sum()),
            "conformal_coverage": scores.attrs["coverage"],
            "conformal_method": (metadata.get("conformal") or {}).get("method"),
            "calibrated_sites": sorted(calibrated_sites(metadata["conformal"]))
            if metadata.get("conformal")
            else [],
            "n_pooled_calibration": int((scores.get("calibrated_on") == "all sites").sum())
            if "calibrated_on" in scores
            else 0,
            "sites_without_own_calibration": pooled,
        },
        out_path.with_suffix(".json"),
    )
    return scores
