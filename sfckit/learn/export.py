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

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.utils.class_weight import compute_sample_weight

from sfckit import __version__
from sfckit.errors import UserError, file_error
from sfckit.io.outputs import atomic_write, write_json, write_tsv
from sfckit.io.tables import read_feature_table
from sfckit.learn.data import check_fold_counts, load_classification_data
from sfckit.learn.models import build_pipeline, parameter_grid
from sfckit.learn.nested import positive_score
from sfckit.learn.results import RESEARCH_NOTICE, clean_for_json
from sfckit.steps.settings import TrainSettings

TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "xgboost.", "sfckit.learn.", "builtins.")
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
    grid = parameter_grid(model, n_features=data.X.shape[1], select_k=select_k, probabilities=True)
    search = GridSearchCV(
        build_pipeline(model, seed=seed, probabilities=True),
        grid,
        scoring="roc_auc",
        n_jobs=1,
        refit=True,
        cv=StratifiedKFold(inner, shuffle=True, random_state=seed),
    )
    search.fit(data.X, data.y, model__sample_weight=compute_sample_weight("balanced", data.y))
    performance = None
    if performance_path is not None:
        performance = json.loads(Path(performance_path).read_text())
    metadata = {
        "sfckit_version": __version__,
        **features_provenance(features_path),
        "features": data.feature_names,
        "feature_min": np.nanmin(data.X, axis=0).tolist(),
        "feature_max": np.nanmax(data.X, axis=0).tolist(),
        "positive": positive,
        "negative": negative,
        "model": model,
        "n_positive": int(data.y.sum()),
        "n_negative": int((1 - data.y).sum()),
        "best_params": {k: str(v) for k, v in search.best_params_.items()},
        "inner_cv_auc": float(search.best_score_),
        "cross_validated_performance": performance,
        "note": RESEARCH_NOTICE,
    }
    payload = sio.dumps(
        {"pipeline": search.best_estimator_, "metadata": json.dumps(clean_for_json(metadata))}
    )
    with atomic_write(model_path, "wb") as handle:
        handle.write(payload)
    return metadata


def load_model(model_path: str | Path) -> tuple[Any, dict[str, Any]]:
    """Load a model saved by :func:`train_model`, trusting only expected types."""
    import skops.io as sio

    model_path = Path(model_path)
    if not model_path.is_file():
        raise file_error(model_path, "the model file does not exist", fix="check --model")
    try:
        untrusted = sio.get_untrusted_types(file=model_path)
        unexpected = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
        if unexpected:
            raise file_error(
                model_path,
                f"the model contains unexpected types {unexpected[:3]}",
                fix="only load models written by sfckit train",
            )
        content = sio.load(model_path, trusted=untrusted)
        metadata = json.loads(content["metadata"])
    except UserError:
        raise
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
    model_path: str | Path, features_path: str | Path, out_path: str | Path
) -> pd.DataFrame:
    """Per-participant probabilities from a saved model, with range flags; writes a TSV."""
    features_path, out_path = Path(features_path), Path(out_path)
    pipeline, metadata = load_model(model_path)
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
    if list(table.columns[1:]) != names:
        raise file_error(
            features_path,
            "region columns differ from the model's",
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
            "predicted": np.where(probability >= 0.5, metadata["positive"], metadata["negative"]),
            "n_features_outside_training_range": outside,
            "outside_training_range": outside > 0,
            "note": RESEARCH_NOTICE,
        }
    )
    write_tsv(scores, out_path)
    write_json(
        {
            "model": str(model_path),
            "features": str(features_path),
            "positive": metadata["positive"],
            "note": RESEARCH_NOTICE,
            "n_outside_training_range": int((outside > 0).sum()),
        },
        out_path.with_suffix(".json"),
    )
    return scores
