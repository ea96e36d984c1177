"""Model registry: each model is a scikit-learn Pipeline with its hyper-parameter grid.

Every pipeline is ``impute (median) -> scale -> [select top-k by ANOVA F] -> model``, so each
data-dependent step is refitted inside every training fold. Models are fitted without class
reweighting: reweighting pulls every predicted risk towards 50 % whatever the true rate
(van den Goorbergh et al. 2022), and sfckit's models are risk models (see
:func:`sfckit.learn.nested.fit_tuned`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sfckit.errors import UserError

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline
    from sklearn.svm import SVC

    from sfckit.learn.harmonize import Harmonization

# scikit-learn is imported inside the builders so that the registry's names (used by the
# settings models and the command line) are available without importing it.


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: how to build it and which hyper-parameters the inner loop tunes."""

    name: str
    build: Callable[[int], Any]
    grid: dict[str, list[Any]]
    description: str
    has_probabilities: bool = True


def _svm(seed: int) -> SVC:
    from sklearn.svm import SVC

    return SVC(kernel="rbf", random_state=seed)


def _logistic(seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=5000, random_state=seed)


def _xgboost(seed: int) -> Any:
    from xgboost import XGBClassifier

    return XGBClassifier(
        n_jobs=1,
        random_state=seed,
        tree_method="hist",
        eval_metric="logloss",
        subsample=0.8,
        colsample_bytree=0.8,
    )


MODELS: dict[str, ModelSpec] = {
    "svm": ModelSpec(
        "svm",
        _svm,
        {
            "model__C": [0.001, 0.01, 0.1, 1.0],
            "model__kernel": ["linear", "rbf"],
            "model__gamma": ["scale"],
        },
        "support-vector machine (linear or RBF kernel, C tuned)",
        has_probabilities=False,
    ),
    "logistic": ModelSpec(
        "logistic",
        _logistic,
        {"model__C": [0.01, 0.1, 1.0, 10.0]},
        "L2-penalised logistic regression (C tuned)",
    ),
    "xgboost": ModelSpec(
        "xgboost",
        _xgboost,
        {
            "model__max_depth": [2, 3],
            "model__learning_rate": [0.05, 0.2],
            "model__n_estimators": [100, 300],
        },
        "gradient-boosted trees (XGBoost; depth, learning rate and trees tuned)",
    ),
}


def check_model(name: str) -> ModelSpec:
    """The registered model called ``name``, or a UserError listing the choices."""
    if name not in MODELS:
        raise UserError(
            f"unknown model '{name}'",
            expected=f"one of {', '.join(MODELS)}",
            fix="choose --model svm, logistic or xgboost",
        )
    return MODELS[name]


TUNED_K = (10, 25)


def build_pipeline(
    name: str,
    *,
    seed: int = 0,
    n_confounds: int = 0,
    harmonization: Harmonization | None = None,
) -> Pipeline:
    """The full preprocessing + model pipeline for ``name``.

    Steps: [``harmonize``] (ComBat, when ``harmonization``), [``deconfound``] (confound
    regression, when ``n_confounds``), ``impute``
    (median), ``scale`` (z-score), ``select`` (top-k ANOVA F, ``k="all"`` until set by the
    grid), ``model``.

    Parameters
    ----------
    name : str
        A key of :data:`MODELS`.
    seed : int
        Random state of the model.
    n_confounds : int
        The last ``n_confounds`` input columns (after harmonisation) are confounds to
        regress out.
    harmonization : Harmonization, optional
        The input ends with a site code and covariates for ComBat (see
        :mod:`sfckit.learn.harmonize`).
    """
    from sklearn.feature_selection import SelectKBest, f_classif
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from sfckit.learn.deconfound import ConfoundRegressor

    spec = check_model(name)
    model = spec.build(seed)
    steps: list[tuple[str, Any]] = []
    if harmonization is not None:
        steps.append(("harmonize", harmonization.step()))
    if n_confounds:
        steps.append(("deconfound", ConfoundRegressor(n_confounds=n_confounds)))
    steps += [
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ("scale", StandardScaler()),
        ("select", SelectKBest(f_classif, k="all")),
        ("model", model),
    ]
    return Pipeline(steps)


def parameter_grid(
    name: str, *, n_features: int, select_k: int | str = "tune"
) -> dict[str, list[Any]]:
    """The inner-loop grid of ``name``, with the feature-selection choice.

    Parameters
    ----------
    name : str
        A key of :data:`MODELS`.
    n_features : int
        Number of features (caps the tuned k).
    select_k : int, "all" or "tune"
        A fixed number of features, all features, or tune k over :data:`TUNED_K` and all.
    """
    spec = check_model(name)
    grid = dict(spec.grid)
    if select_k == "tune":
        grid["select__k"] = [k for k in TUNED_K if k < n_features] + ["all"]
    else:
        grid["select__k"] = [select_k if select_k == "all" else min(int(select_k), n_features)]
    return grid
