"""Subgroup performance against a planted difference and a direct computation."""

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from sfckit.learn.fairness import subgroup_performance


def test_a_classifier_that_only_works_in_women_shows_it():
    rng = np.random.default_rng(0)
    n = 400
    sex = np.where(np.arange(n) % 2 == 0, "F", "M")
    y = rng.integers(0, 2, n)
    informative = np.where(y == 1, 0.7, 0.3) + rng.normal(0, 0.1, n)
    score = np.where(sex == "F", informative, rng.uniform(0, 1, n))
    ids = [f"sub-{i:03d}" for i in range(n)]
    predictions = pd.DataFrame(
        {
            "participant_id": ids * 2,
            "repeat": [0] * n + [1] * n,
            "y_true": np.tile(y, 2),
            "y_score": np.tile(score, 2),
        }
    )
    clinical = pd.DataFrame({"sex": sex, "age": rng.uniform(20, 60, n)}, index=ids)
    table = subgroup_performance(predictions, clinical, n_bootstrap=200, seed=0).set_index(
        ["variable", "subgroup"]
    )
    women, men = table.loc[("sex", "F")], table.loc[("sex", "M")]
    women_rows = sex == "F"
    assert women["auc"] == roc_auc_score(y[women_rows], score[women_rows])
    assert women["auc_ci_low"] > 0.9 and men["auc_ci_high"] > 0.4 and men["auc"] < 0.65
    assert women["n"] == 200 and women["n_positive"] == int(y[women_rows].sum())
    ages = table.loc["age"]
    assert ages["n"].sum() == n and len(ages) == 2


def test_a_subgroup_with_too_few_cases_gets_no_auc():
    ids = [f"s{i}" for i in range(20)]
    predictions = pd.DataFrame(
        {
            "participant_id": ids,
            "repeat": 0,
            "y_true": [1] * 3 + [0] * 17,
            "y_score": np.linspace(0, 1, 20),
        }
    )
    clinical = pd.DataFrame({"sex": ["F"] * 20}, index=ids)
    table = subgroup_performance(predictions, clinical, n_bootstrap=50, seed=0)
    assert len(table) == 1 and np.isnan(table.loc[0, "auc"])
    assert table.loc[0, "observed_rate"] == 3 / 20
