"""Effect-size intervals: partial η² from the noncentral F covers the planted population value
at its nominal rate, and Cohen's d's interval is the contrast's t interval rescaled."""

import numpy as np
import pytest
import statsmodels.formula.api as smf
from scipy import stats

from sfckit.stats.effect_sizes import cohen_d_ci, partial_eta2_ci


@pytest.mark.slow
def test_partial_eta2_interval_covers_the_planted_value_at_its_nominal_rate():
    rng = np.random.default_rng(3)
    means, n, sigma = np.array([0.0, 0.3, 0.6]), 40, 1.0
    between = np.mean((means - means.mean()) ** 2)  # equal group sizes
    truth = between / (between + sigma**2)
    covered, runs = 0, 400
    for _ in range(runs):
        samples = [rng.normal(m, sigma, n) for m in means]
        f, _ = stats.f_oneway(*samples)
        low, high = partial_eta2_ci(f, 2, 3 * n - 3)
        covered += low <= truth <= high
    assert 0.92 <= covered / runs <= 0.98


def test_partial_eta2_interval_inverts_the_noncentral_f():
    f, df1, df2 = 6.0, 2, 50
    low, high = partial_eta2_ci(f, df1, df2)
    total = df1 + df2 + 1
    lam_low, lam_high = low * total / (1 - low), high * total / (1 - high)
    assert stats.ncf.cdf(f, df1, df2, lam_low) == pytest.approx(0.975, abs=1e-6)
    assert stats.ncf.cdf(f, df1, df2, lam_high) == pytest.approx(0.025, abs=1e-6)
    assert partial_eta2_ci(0.2, 2, 50)[0] == 0.0  # a small F: the interval starts at zero


def test_cohen_d_interval_is_the_rescaled_t_interval_of_the_contrast():
    rng = np.random.default_rng(5)
    import pandas as pd

    data = pd.DataFrame(
        {"y": np.r_[rng.normal(0, 1, 30), rng.normal(0.8, 1, 30)], "g": ["a"] * 30 + ["b"] * 30}
    )
    fit = smf.ols("y ~ g", data).fit()
    estimate, se = fit.params["g[T.b]"], fit.bse["g[T.b]"]
    sd = np.sqrt(fit.scale)
    low, high = cohen_d_ci(estimate / sd, estimate, se, fit.df_resid)
    reference = fit.conf_int().loc["g[T.b]"].to_numpy() / sd
    assert (low, high) == pytest.approx(tuple(reference), abs=1e-10)
