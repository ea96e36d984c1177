"""The vectorised ridge Cox model against scikit-survival's, and its penalty search against
GridSearchCV over scikit-survival's pipeline."""

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sfckit.learn.cox import ridge_cox
from sfckit.learn.survival import RIDGE_PENALTIES, choose_penalty


def cohort(seed, n, p, *, decimals=None):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    relapse = rng.exponential(10 * np.exp(-0.8 * X[:, 0]))
    censor = rng.uniform(2, 20, n)
    time = np.minimum(relapse, censor)
    if decimals is not None:  # rounding makes tied times, with events and censoring mixed
        time = np.round(time, decimals).clip(0.5)
    return X, time, (relapse <= censor).astype(int)


@pytest.mark.parametrize(
    ("n", "p", "decimals", "alpha"),
    [(40, 3, None, 1.0), (150, 60, None, 10.0), (120, 8, 0, 0.1), (60, 5, 0, 1e-4)],
)
def test_coefficients_equal_scikit_survival(n, p, decimals, alpha):
    from sksurv.linear_model import CoxPHSurvivalAnalysis
    from sksurv.util import Surv

    X, time, event = cohort(n + p, n, p, decimals=decimals)
    assert decimals is None or len(np.unique(time[event == 1])) < event.sum()  # ties exist
    reference = CoxPHSurvivalAnalysis(alpha=alpha, ties="efron", n_iter=200)
    reference.fit(X, Surv.from_arrays(event=event.astype(bool), time=time))
    coef = ridge_cox(X, time, event, alpha=alpha, n_iter=200)
    # one more Newton step than scikit-survival (rounding at the stopping rule) moves ~1e-9
    np.testing.assert_allclose(coef, reference.coef_, rtol=0, atol=1e-8)
    assert abs(coef[0]) > 0.3  # the planted hazard, so the comparison is not of zeros


def test_a_model_that_cannot_converge_says_so():
    X, time, event = cohort(3, 30, 2)
    with pytest.warns(ConvergenceWarning, match="raise the penalty"):
        ridge_cox(X, time, event, alpha=1.0, n_iter=1)


@pytest.mark.slow
def test_the_penalty_is_the_one_grid_search_chooses():
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sksurv.linear_model import CoxPHSurvivalAnalysis
    from sksurv.util import Surv

    chosen = set()
    for seed in range(6):
        X, time, event = cohort(seed, 90, 25, decimals=1)
        X[::7, 3] = np.nan  # the imputer is part of what is shared
        folds = list(StratifiedKFold(4, shuffle=True, random_state=seed).split(X, event))
        search = GridSearchCV(
            Pipeline(
                [
                    ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                    ("scale", StandardScaler()),
                    ("model", CoxPHSurvivalAnalysis(ties="efron", n_iter=200)),
                ]
            ),
            {"model__alpha": list(RIDGE_PENALTIES)},
            cv=folds,
        ).fit(X, Surv.from_arrays(event=event.astype(bool), time=time))
        alpha = choose_penalty(X, time, event, folds)
        assert alpha == search.best_params_["model__alpha"]
        chosen.add(alpha)
    assert len(chosen) > 1  # the cohorts do not all choose the same penalty
