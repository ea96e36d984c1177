"""Every private call fails safely: each kind of failure (import error, missing attribute,
changed return count or shape, changed signature, an exception inside, a silently changed
result) falls back to the public API with the fast path's numbers and one debug note, and
``SFCKIT_FAST_PATHS=0`` gives the same nested cross-validation as the fast paths."""

import logging
import sys
import types

import numpy as np
import pytest
from scipy import optimize
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import SVC

from sfckit.learn import fastpath, lbfgs, tuning
from sfckit.learn.models import build_pipeline
from sfckit.learn.nested import nested_cv, outer_splits

KINDS = ["import", "attribute", "shape", "signature", "raises"]


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.delenv(fastpath.SWITCH, raising=False)
    fastpath.reset()
    yield
    fastpath.reset()


def fake_module(name, **replaced):
    """A stand-in for module ``name``: its attributes, some replaced (None: removed)."""
    real = sys.modules[name]
    fake = types.ModuleType(name)
    fake.__dict__.update({k: v for k, v in vars(real).items() if not k.startswith("__")})
    for attribute, value in replaced.items():
        if value is None:
            fake.__dict__.pop(attribute, None)
        else:
            setattr(fake, attribute, value)
    return fake


def install(monkeypatch, name, module):
    monkeypatch.setitem(sys.modules, name, module)


def notes(caplog, path):
    return [r for r in caplog.records if r.name == fastpath.__name__ and repr(path) in r.message]


def assert_fell_back_once(caplog, path):
    assert path in fastpath.failures()
    assert len(notes(caplog, path)) == 1


# --- libsvm ---------------------------------------------------------------------------------


def svm_problem():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(50, 6))
    y = (X[:, 0] + rng.normal(size=50) > 0).astype(int)
    model = SVC(random_state=0)
    gram, gram_test = X[:35] @ X[:35].T, X[35:] @ X[:35].T
    return model, gram, y[:35], gram_test


def svm_decisions():
    model, gram, y, gram_test = svm_problem()
    return [
        tuning._precomputed_decision(model, model.get_params(), {"C": C}, gram, y, gram_test)
        for C in (0.01, 1.0)
    ]


def break_libsvm(monkeypatch, kind):
    name = "sklearn.svm._libsvm"
    real = sys.modules[name]
    if kind == "import":
        install(monkeypatch, name, None)
    elif kind == "attribute":
        install(monkeypatch, name, fake_module(name, decision_function=None))
    elif kind == "shape":  # nine return values became ten
        install(monkeypatch, name, fake_module(name, fit=lambda *a, **k: (*real.fit(*a, **k), 0)))
    elif kind == "signature":  # a keyword renamed: the real routine refuses the call
        renamed = lambda *a, random_seed, **k: real.fit(*a, seed=random_seed, **k)  # noqa: E731
        install(monkeypatch, name, fake_module(name, fit=renamed))
    else:

        def crash(*args, **kwargs):
            raise RuntimeError("libsvm crashed")

        install(monkeypatch, name, fake_module(name, decision_function=crash))


@pytest.mark.parametrize("checked", [False, True], ids=["first-use", "later-use"])
@pytest.mark.parametrize("kind", KINDS)
def test_libsvm_failures_fall_back_to_svc(monkeypatch, caplog, kind, checked):
    fast = svm_decisions()
    assert fastpath.failures() == {} and fastpath.LIBSVM in fastpath._CHECKED
    fastpath.reset()
    if checked:  # the check passed before the routine changed: the per-call guard catches it
        fastpath._CHECKED.add(fastpath.LIBSVM)
    break_libsvm(monkeypatch, kind)
    with caplog.at_level(logging.DEBUG, logger=fastpath.__name__):
        fallback = svm_decisions()
    assert_fell_back_once(caplog, fastpath.LIBSVM)
    for ours, public in zip(fast, fallback, strict=True):
        np.testing.assert_array_equal(public, ours)


def test_libsvm_returning_the_wrong_shape_falls_back(monkeypatch, caplog):
    name = "sklearn.svm._libsvm"
    real = sys.modules[name]
    fast = svm_decisions()
    fastpath.reset()
    fastpath._CHECKED.add(fastpath.LIBSVM)
    short = lambda *a, **k: real.decision_function(*a, **k)[:-1]  # noqa: E731
    install(monkeypatch, name, fake_module(name, decision_function=short))
    with caplog.at_level(logging.DEBUG, logger=fastpath.__name__):
        fallback = svm_decisions()
    assert_fell_back_once(caplog, fastpath.LIBSVM)
    np.testing.assert_array_equal(fallback[0], fast[0])


def test_a_silently_flipped_libsvm_sign_is_caught_by_the_first_use_check(monkeypatch, caplog):
    name = "sklearn.svm._libsvm"
    real = sys.modules[name]
    fast = svm_decisions()
    fastpath.reset()
    flipped = lambda *a, **k: -real.decision_function(*a, **k)  # noqa: E731
    install(monkeypatch, name, fake_module(name, decision_function=flipped))
    with caplog.at_level(logging.DEBUG, logger=fastpath.__name__):
        fallback = svm_decisions()
    assert_fell_back_once(caplog, fastpath.LIBSVM)
    assert "differ" in fastpath.failures()[fastpath.LIBSVM]
    np.testing.assert_array_equal(fallback[1], fast[1])


# --- the binomial loss kernel ------------------------------------------------------------------


def logistic_problem():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(60, 8))
    y = np.where(X[:, 1] + rng.normal(size=60) > 0, "TRD", "nTRD")
    return LogisticRegression(max_iter=5000, random_state=0), X, y


def logistic_fits():
    """What search_grid does per candidate: the lean fit, or the estimator's."""
    model, X, y = logistic_problem()
    fits = []
    for C in (0.01, 1.0):
        fitted = tuning.lean_logistic(model, {"C": C}, X, y)
        if fitted is None:
            fitted = clone(model).set_params(C=C).fit(X, y)
        fits.append(fitted)
    return fits, X


class Kernel:
    """A stand-in for HalfBinomialLoss().closs around the real kernel."""

    def __init__(self, real, kind):
        self.real, self.kind = real, kind

    def loss_gradient(self, **arguments):
        if self.kind == "shape":  # returns new arrays, writes nothing into the buffers
            return np.zeros(1), np.zeros(1)
        if self.kind == "signature":  # a keyword renamed: the real kernel refuses the call
            arguments["raw"] = arguments.pop("raw_prediction")
        if self.kind == "raises":
            raise RuntimeError("kernel crashed")
        result = self.real.loss_gradient(**arguments)
        if self.kind == "doubled":
            arguments["loss_out"] *= 2
        return result


def break_binomial(monkeypatch, kind):
    name = "sklearn._loss.loss"
    if kind == "import":
        install(monkeypatch, name, None)
        return

    real = sys.modules[name].HalfBinomialLoss().closs

    class Changed:
        def __init__(self):
            if kind != "attribute":  # "attribute": the kernel's attribute is gone
                self.closs = Kernel(real, kind)

    install(monkeypatch, name, fake_module(name, HalfBinomialLoss=Changed))


@pytest.mark.parametrize("checked", [False, True], ids=["first-use", "later-use"])
@pytest.mark.parametrize("kind", KINDS)
def test_binomial_kernel_failures_fall_back_to_logistic_regression(
    monkeypatch, caplog, kind, checked
):
    fast, X = logistic_fits()
    assert all(isinstance(f, tuning.LeanLogistic) for f in fast)
    fastpath.reset()
    if checked:
        fastpath._CHECKED.add(fastpath.BINOMIAL_LOSS)
    break_binomial(monkeypatch, kind)
    with caplog.at_level(logging.DEBUG, logger=fastpath.__name__):
        fallback, _ = logistic_fits()
    assert_fell_back_once(caplog, fastpath.BINOMIAL_LOSS)
    for ours, public in zip(fast, fallback, strict=True):
        assert isinstance(public, LogisticRegression)
        np.testing.assert_array_equal(public.coef_, ours.coef_)
        np.testing.assert_array_equal(public.intercept_, ours.intercept_)
        np.testing.assert_array_equal(public.predict_proba(X), ours.predict_proba(X))


def test_a_silently_changed_loss_is_caught_by_the_first_use_check(monkeypatch, caplog):
    fast, X = logistic_fits()
    fastpath.reset()
    break_binomial(monkeypatch, "doubled")
    with caplog.at_level(logging.DEBUG, logger=fastpath.__name__):
        fallback, _ = logistic_fits()
    assert_fell_back_once(caplog, fastpath.BINOMIAL_LOSS)
    assert "differ" in fastpath.failures()[fastpath.BINOMIAL_LOSS]
    np.testing.assert_array_equal(fallback[0].predict_proba(X), fast[0].predict_proba(X))


# --- scipy's L-BFGS-B routine ----------------------------------------------------------------


def quadratic_logistic(seed=5, n=80, p=7):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    y = (X[:, 0] - X[:, 1] + rng.normal(size=n) > 0).astype(float)

    def loss(w, strength):
        raw = X @ w
        value = np.mean(np.logaddexp(0, raw) - y * raw) + 0.5 * strength * w @ w
        return float(value), X.T @ (1 / (1 + np.exp(-raw)) - y) / n + strength * w

    return loss, p


OPTIONS = {"maxiter": 300, "gtol": 1e-6, "ftol": 64 * np.finfo(float).eps}


def minimised():
    loss, p = quadratic_logistic()
    return [lbfgs.minimize_lbfgsb(loss, np.zeros(p), (s,), **OPTIONS) for s in (1e-3, 0.1)]


def break_lbfgsb(monkeypatch, kind):
    name = "scipy.optimize._lbfgsb"
    real = sys.modules[name].setulb
    if kind == "import":
        install(monkeypatch, name, None)
        return
    if kind == "attribute":
        install(monkeypatch, name, fake_module(name, setulb=None))
        return

    def changed(*arguments):
        if kind == "signature":  # one argument fewer: the real routine refuses the call
            return real(*arguments[:-1])
        if kind == "raises":
            raise RuntimeError("routine crashed")
        # "shape": the minimiser is no longer written in place (NaN left), "converged"
        arguments[1][:] = np.nan
        arguments[11][:] = 4, 0
        return None

    install(monkeypatch, name, fake_module(name, setulb=changed))


@pytest.mark.parametrize("checked", [False, True], ids=["first-use", "later-use"])
@pytest.mark.parametrize("kind", KINDS)
def test_lbfgsb_routine_failures_fall_back_to_minimize(monkeypatch, caplog, kind, checked):
    fast = minimised()
    assert fastpath.LBFGSB in fastpath._CHECKED and fastpath.failures() == {}
    fastpath.reset()
    if checked:
        fastpath._CHECKED.add(fastpath.LBFGSB)
    break_lbfgsb(monkeypatch, kind)
    with caplog.at_level(logging.DEBUG, logger=fastpath.__name__):
        fallback = minimised()
    assert_fell_back_once(caplog, fastpath.LBFGSB)
    loss, p = quadratic_logistic()
    for strength, ours, public in zip((1e-3, 0.1), fast, fallback, strict=True):
        reference = optimize.minimize(
            loss, np.zeros(p), args=(strength,), method="L-BFGS-B", jac=True, options=OPTIONS
        )
        np.testing.assert_array_equal(ours[0], reference.x)
        np.testing.assert_array_equal(public[0], reference.x)
        assert ours[1] is public[1] is True


def test_a_routine_that_claims_convergence_at_the_start_is_caught_by_the_check(monkeypatch, caplog):
    fast = minimised()
    fastpath.reset()

    def lazy(*arguments):
        arguments[11][:] = 4, 0  # "converged", x untouched

    install(
        monkeypatch, "scipy.optimize._lbfgsb", fake_module("scipy.optimize._lbfgsb", setulb=lazy)
    )
    with caplog.at_level(logging.DEBUG, logger=fastpath.__name__):
        fallback = minimised()
    assert_fell_back_once(caplog, fastpath.LBFGSB)
    np.testing.assert_array_equal(fallback[0][0], fast[0][0])


def test_an_error_of_the_objective_is_the_callers_not_the_routines():
    def broken(w):
        raise ZeroDivisionError("the objective's own bug")

    with pytest.raises(ZeroDivisionError, match="own bug"):
        lbfgs.minimize_lbfgsb(broken, np.zeros(3), (), **OPTIONS)
    assert fastpath.LBFGSB not in fastpath.failures()


# --- Platt scaling -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def svm_tuned():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(60, 10))
    y = (X[:, :3].sum(axis=1) + rng.normal(size=60) > 0).astype(int)
    cv = StratifiedKFold(3, shuffle=True, random_state=2)
    pipeline = build_pipeline("svm", seed=0).set_params(select__k="all", model__C=0.1)
    fitted = clone(pipeline).fit(X, y)
    from sklearn.model_selection import cross_val_predict

    out_of_fold = cross_val_predict(clone(pipeline), X, y, cv=cv, method="decision_function")
    return fitted, out_of_fold, X, y, cv


def calibrated(svm_tuned):
    fitted, out_of_fold, X, y, cv = svm_tuned
    return tuning.platt_calibrated(fitted, out_of_fold, X, y, cv=cv)


def break_platt(monkeypatch, kind):
    name = "sklearn.calibration"
    real = sys.modules[name]
    if kind == "import":  # the module cannot be imported (the public class was before)
        install(monkeypatch, name, None)
        return
    if kind == "attribute":  # the private classes renamed
        install(monkeypatch, name, fake_module(name, _SigmoidCalibration=None))
        return

    class Calibration(real._SigmoidCalibration):
        def fit(self, X, y, sample_weight=None):
            if kind == "raises":
                raise RuntimeError("calibrator crashed")
            return super().fit(X, y, sample_weight)

    class Classifier(real._CalibratedClassifier):
        if kind == "signature":

            def __init__(self, estimator, calibrators, *, labels, method="sigmoid"):
                super().__init__(estimator, calibrators, classes=labels, method=method)

        def predict_proba(self, X):
            probabilities = super().predict_proba(X)
            return probabilities[:, 1:] if kind == "shape" else probabilities

    install(
        monkeypatch,
        name,
        fake_module(name, _SigmoidCalibration=Calibration, _CalibratedClassifier=Classifier),
    )


@pytest.mark.parametrize("kind", KINDS)
def test_platt_failures_fall_back_to_calibrated_classifier_cv(monkeypatch, caplog, svm_tuned, kind):
    fast = calibrated(svm_tuned)
    _, _, X, y, cv = svm_tuned
    fastpath.reset()
    break_platt(monkeypatch, kind)
    with caplog.at_level(logging.DEBUG, logger=fastpath.__name__):
        fallback = calibrated(svm_tuned)
        calibrated(svm_tuned)  # noted once, not again
    monkeypatch.undo()
    assert_fell_back_once(caplog, fastpath.PLATT)
    # the saved form keeps its types: CalibratedClassifierCV around sklearn's own classes
    for model in (fast, fallback):
        assert type(model) is CalibratedClassifierCV
        (inner,) = model.calibrated_classifiers_
        assert type(inner).__name__ == "_CalibratedClassifier"
        assert type(inner.calibrators[0]).__name__ == "_SigmoidCalibration"
    public = CalibratedClassifierCV(
        clone(svm_tuned[0]), method="sigmoid", cv=cv, ensemble=False
    ).fit(X, y)
    np.testing.assert_array_equal(fallback.predict_proba(X), public.predict_proba(X))
    np.testing.assert_allclose(fast.predict_proba(X), public.predict_proba(X), rtol=0, atol=1e-8)


# --- the switch ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "false", "OFF", " no "])
def test_the_switch_turns_every_fast_path_off(monkeypatch, caplog, value, svm_tuned):
    monkeypatch.setenv(fastpath.SWITCH, value)
    with caplog.at_level(logging.DEBUG, logger=fastpath.__name__):
        assert not fastpath.enabled()
        loss, p = quadratic_logistic()
        assert fastpath.lbfgsb(loss, np.zeros(p), (0.1,), maxls=50, **OPTIONS) is None
        model, X, y = logistic_problem()
        assert tuning.lean_logistic(model, {"C": 1.0}, X, y) is None
        _, gram, y_svm, gram_test = svm_problem()
        assert fastpath.svm_decision(gram, y_svm, gram_test, SVC().get_params()) is None
        fitted, out_of_fold, X, y, cv = svm_tuned
        unfitted = CalibratedClassifierCV(clone(fitted), method="sigmoid", cv=cv, ensemble=False)
        assert fastpath.platt(unfitted, fitted, out_of_fold, X, y) is None
    assert fastpath.failures() == {} and fastpath._CHECKED == set()
    assert len([r for r in caplog.records if fastpath.SWITCH in r.message]) == 1
    monkeypatch.setenv(fastpath.SWITCH, "1")
    assert fastpath.enabled()


def cohort(seed=11, n=54, p=12):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    y = (X[:, :3].sum(axis=1) * 0.7 + rng.normal(size=n) > 0).astype(int)
    X[rng.random(X.shape) < 0.02] = np.nan
    return X, y


@pytest.mark.slow  # nested CV twice per model (the marker is registered with issue 39's)
@pytest.mark.parametrize("model", ["svm", "logistic", "xgboost"])
def test_nested_cv_is_the_same_with_the_fast_paths_on_and_off(monkeypatch, model):
    from sklearn.metrics import roc_auc_score

    X, y = cohort()
    folds = 2 if model == "xgboost" else 3  # xgboost (no private call) is slow to fit
    splits = outer_splits(y, n_splits=folds, n_repeats=1, seed=0)
    options = {"model": model, "splits": splits, "inner": folds, "seed": 0, "progress": False}
    if model == "xgboost":
        options["select_k"] = 6
    runs = {}
    for switch in ("1", "0"):
        monkeypatch.setenv(fastpath.SWITCH, switch)
        fastpath.reset()
        runs[switch] = nested_cv(X, y, importance=False, **options)
        if switch == "1":  # the fast paths ran (xgboost has none)
            used = {"svm": {fastpath.LIBSVM}, "logistic": {fastpath.BINOMIAL_LOSS}}
            assert used.get(model, set()) <= fastpath._CHECKED
            assert fastpath.failures() == {}
    on, off = runs["1"], runs["0"]
    assert [f.best_params for f in on.folds] == [f.best_params for f in off.folds]
    np.testing.assert_allclose(
        [f.inner_score for f in on.folds], [f.inner_score for f in off.folds], rtol=0, atol=1e-9
    )
    np.testing.assert_allclose(
        on.predictions["y_score"], off.predictions["y_score"], rtol=0, atol=1e-8
    )
    assert (on.predictions["y_pred"] == off.predictions["y_pred"]).all()
    auc_on = roc_auc_score(on.predictions["y_true"], on.predictions["y_score"])
    auc_off = roc_auc_score(off.predictions["y_true"], off.predictions["y_score"])
    assert abs(auc_on - auc_off) <= 1e-8 and auc_on > 0.6
