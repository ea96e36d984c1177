"""The lean inner loop gives the numbers of GridSearchCV + CalibratedClassifierCV."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from sfckit.learn.models import build_pipeline, parameter_grid
from sfckit.learn.nested import fit_tuned, tuning_scoring


def plain_fit_tuned(X, y, *, model, inner_cv, seed, n_confounds=0):
    """The procedure written plainly with scikit-learn, as a user would."""
    pipeline = build_pipeline(model, seed=seed, n_confounds=n_confounds)
    grid = parameter_grid(model, n_features=X.shape[1] - n_confounds)
    search = GridSearchCV(
        pipeline, grid, scoring=tuning_scoring(model), cv=inner_cv, refit=True
    ).fit(X, y)
    if model != "svm":
        return search.best_estimator_, search
    calibrated = CalibratedClassifierCV(
        clone(search.best_estimator_), method="sigmoid", cv=inner_cv, ensemble=False
    )
    return calibrated.fit(X, y), search


def cohort(seed, n=90, p=30):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    y = (X[:, :4].sum(axis=1) * 0.5 + rng.normal(size=n) > 0).astype(int)
    X[rng.random(X.shape) < 0.02] = np.nan  # the imputer is part of the shared preprocessing
    return X, y


@pytest.mark.parametrize("model", ["svm", pytest.param("logistic", marks=pytest.mark.slow)])
@pytest.mark.parametrize(
    "seed", [0, pytest.param(1, marks=pytest.mark.slow), pytest.param(2, marks=pytest.mark.slow)]
)
def test_lean_search_chooses_and_predicts_as_the_plain_procedure(model, seed):
    X, y = cohort(seed)
    X_new, _ = cohort(seed + 100, n=40)
    X_new = np.nan_to_num(X_new)
    inner_cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    ours, tuning = fit_tuned(X, y, model=model, select_k="tune", inner_cv=inner_cv, seed=seed)
    plain, search = plain_fit_tuned(X, y, model=model, inner_cv=inner_cv, seed=seed)
    assert tuning.best_params_ == search.best_params_
    assert tuning.best_index_ == search.best_index_
    np.testing.assert_allclose(
        tuning.cv_results_["mean_test_score"], search.cv_results_["mean_test_score"], atol=1e-9
    )
    np.testing.assert_allclose(
        ours.predict_proba(X_new), plain.predict_proba(X_new), rtol=0, atol=1e-8
    )
    assert type(ours) is type(plain)


@pytest.mark.slow
def test_lean_search_with_confound_regression_matches_too():
    X, y = cohort(5)
    X = np.c_[X, np.random.default_rng(5).normal(size=(X.shape[0], 2))]
    inner_cv = StratifiedKFold(4, shuffle=True, random_state=3)
    ours, tuning = fit_tuned(
        X, y, model="svm", select_k="tune", inner_cv=inner_cv, seed=0, n_confounds=2
    )
    plain, search = plain_fit_tuned(X, y, model="svm", inner_cv=inner_cv, seed=0, n_confounds=2)
    assert tuning.best_params_ == search.best_params_
    np.testing.assert_allclose(ours.predict_proba(X), plain.predict_proba(X), atol=1e-8)


@pytest.mark.slow
def test_xgboost_search_matches_the_plain_procedure():
    X, y = cohort(7, n=60, p=12)
    inner_cv = StratifiedKFold(3, shuffle=True, random_state=1)
    ours, tuning = fit_tuned(X, y, model="xgboost", select_k=5, inner_cv=inner_cv, seed=0)
    pipeline = build_pipeline("xgboost", seed=0)
    grid = parameter_grid("xgboost", n_features=12, select_k=5)
    search = GridSearchCV(pipeline, grid, scoring="neg_log_loss", cv=inner_cv).fit(X, y)
    assert tuning.best_params_ == search.best_params_
    np.testing.assert_allclose(
        tuning.cv_results_["mean_test_score"], search.cv_results_["mean_test_score"], atol=1e-9
    )
    np.testing.assert_allclose(
        ours.predict_proba(X), search.best_estimator_.predict_proba(X), atol=1e-8
    )


def test_ties_go_to_the_first_candidate_in_grid_order():
    # every candidate separates these folds perfectly: all mean AUCs are 1, the first wins
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 30)
    X = rng.normal(size=(60, 15)) + 4.0 * y[:, None]
    inner_cv = StratifiedKFold(3, shuffle=True, random_state=0)
    _, tuning = fit_tuned(X, y, model="svm", select_k="tune", inner_cv=inner_cv, seed=0)
    _, search = plain_fit_tuned(X, y, model="svm", inner_cv=inner_cv, seed=0)
    assert np.all(tuning.cv_results_["mean_test_score"] == 1.0)
    assert tuning.best_index_ == search.best_index_ == 0


@pytest.mark.parametrize("C", [0.001, 1.0])
def test_libsvm_called_directly_is_bit_identical_to_svc(C):
    from sklearn.svm import SVC

    from sfckit.learn.tuning import _precomputed_decision

    rng = np.random.default_rng(3)
    X = rng.normal(size=(70, 9))
    y = (X[:, 0] + rng.normal(size=70) > 0).astype(int)
    gram, gram_new = X[:50] @ X[:50].T, X[50:] @ X[:50].T
    model = SVC(random_state=0)
    ours = _precomputed_decision(model, model.get_params(), {"C": C}, gram, y[:50], gram_new)
    svc = SVC(kernel="precomputed", C=C).fit(gram, y[:50]).decision_function(gram_new)
    np.testing.assert_array_equal(ours, svc)
    rbf = SVC(kernel="rbf", C=C, gamma=0.1).fit(X[:50], y[:50]).decision_function(X[50:])
    distances = ((X[50:, None, :] - X[None, :50, :]) ** 2).sum(-1)
    square = ((X[:50, None, :] - X[None, :50, :]) ** 2).sum(-1)
    ours_rbf = _precomputed_decision(
        model,
        model.get_params(),
        {"C": C},
        np.exp(-0.1 * square),
        y[:50],
        np.exp(-0.1 * distances),
    )
    np.testing.assert_allclose(ours_rbf, rbf, atol=1e-8)


def test_the_lean_objective_is_bit_identical_to_scikit_learns():
    from sklearn._loss.loss import HalfBinomialLoss
    from sklearn.linear_model._linear_loss import LinearModelLoss

    from sfckit.learn.tuning import _binomial_loss_gradient

    rng = np.random.default_rng(6)
    X = rng.normal(size=(70, 9))
    y = (rng.random(70) < 0.4).astype(float)
    reference = LinearModelLoss(base_loss=HalfBinomialLoss(), fit_intercept=True)
    for scale in (0.0, 0.3, 40.0):  # 40: rows far in both tails of the logistic
        coef = scale * rng.normal(size=10)
        loss, gradient = _binomial_loss_gradient(coef, X, y, HalfBinomialLoss().closs, 0.02, 1)
        expected_loss, expected_gradient = reference.loss_gradient(coef, X, y, None, 0.02, 1)
        assert loss == expected_loss
        np.testing.assert_array_equal(gradient, expected_gradient)


@pytest.mark.parametrize("C", [1e-3, 0.1, 10.0])
def test_lean_logistic_is_bit_identical_to_logistic_regression(C):
    from sklearn.linear_model import LogisticRegression

    from sfckit.learn.tuning import lean_logistic

    rng = np.random.default_rng(4)
    X = rng.normal(size=(80, 12))
    y = np.where(X[:, 1] + rng.normal(size=80) > 0, "TRD", "nTRD")
    model = LogisticRegression(max_iter=5000, random_state=0)
    ours = lean_logistic(model, {"C": C}, X[:60], y[:60])
    plain = clone(model).set_params(C=C).fit(X[:60], y[:60])
    np.testing.assert_array_equal(ours.coef_, plain.coef_)
    np.testing.assert_array_equal(ours.intercept_, plain.intercept_)
    np.testing.assert_array_equal(ours.predict_proba(X[60:]), plain.predict_proba(X[60:]))
    np.testing.assert_array_equal(ours.decision_function(X[60:]), plain.decision_function(X[60:]))
    # anything but the plain binary L-BFGS fit goes back to the estimator
    assert lean_logistic(model, {"C": C, "class_weight": "balanced"}, X, y) is None
    assert lean_logistic(model, {"C": C}, X, np.arange(80) % 3) is None
