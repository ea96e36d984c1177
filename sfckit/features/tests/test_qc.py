"""QC tables: the outlier rule against a hand computation."""


def test_outlier_flags_need_a_cohort_for_the_mad_rule_to_mean_something():
    import numpy as np
    import pandas as pd

    from sfckit.features.qc import MIN_OUTLIER_N, outlier_counts

    rng = np.random.default_rng(0)
    small = pd.DataFrame(rng.normal(size=(4, 100)))
    assert outlier_counts(small).sum() == 0  # 4 people: no flags (before: every one flagged)
    large = pd.DataFrame(rng.normal(size=(40, 100)))
    large.iloc[7, 3] = 25.0  # one planted extreme value
    counts = outlier_counts(large)
    assert counts[7] >= 1
    # with enough people the rule is the plain median/MAD rule: same flags as by hand
    values = large.to_numpy()
    median = np.median(values, axis=0)
    mad = 1.4826 * np.median(np.abs(values - median), axis=0)
    assert (counts == (np.abs(values - median) > 4 * mad).sum(axis=1)).all()
    assert len(large) >= MIN_OUTLIER_N
