"""The lean L-BFGS-B driver against scipy.optimize.minimize, and its fallback."""

import numpy as np
import pytest
from scipy import optimize

from sfckit.learn import fastpath, lbfgs


def logistic_problem(seed, n=120, p=15):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    y = (X[:, 0] - X[:, 1] + rng.normal(size=n) > 0).astype(float)

    def loss(w, strength):
        raw = X @ w
        value = np.mean(np.logaddexp(0, raw) - y * raw) + 0.5 * strength * w @ w
        return float(value), X.T @ (1 / (1 + np.exp(-raw)) - y) / n + strength * w

    return loss, p


@pytest.mark.parametrize(
    ("seed", "strength", "maxiter"), [(0, 1e-3, 500), (1, 1.0, 500), (2, 1e-4, 3)]
)
def test_the_lean_driver_gives_minimizes_result_to_the_bit(seed, strength, maxiter):
    loss, p = logistic_problem(seed)
    options = {"maxiter": maxiter, "gtol": 1e-6, "ftol": 64 * np.finfo(float).eps, "maxls": 50}
    x, converged = fastpath._lean_lbfgsb(loss, np.zeros(p), (strength,), **options)
    reference = optimize.minimize(
        loss, np.zeros(p), args=(strength,), method="L-BFGS-B", jac=True, options=options
    )
    np.testing.assert_array_equal(x, reference.x)
    assert converged == reference.success == (maxiter > 3)  # 3 iterations do not converge
    assert np.abs(x).max() > 0.1


def test_minimize_lbfgsb_gives_minimizes_result_with_the_fast_path_on_and_off(monkeypatch):
    loss, p = logistic_problem(3)
    options = {"maxiter": 200, "gtol": 1e-6, "ftol": 1e-12}
    monkeypatch.delenv("SFCKIT_FAST_PATHS", raising=False)
    fastpath.reset()
    fast = lbfgs.minimize_lbfgsb(loss, np.zeros(p), (0.01,), **options)
    assert fastpath.LBFGSB in fastpath._CHECKED  # the lean driver ran
    monkeypatch.setenv("SFCKIT_FAST_PATHS", "0")
    public = lbfgs.minimize_lbfgsb(loss, np.zeros(p), (0.01,), **options)
    reference = optimize.minimize(
        loss, np.zeros(p), args=(0.01,), method="L-BFGS-B", jac=True, options=options
    )
    for x, converged in (fast, public):
        np.testing.assert_array_equal(x, reference.x)
        assert converged
    fastpath.reset()
