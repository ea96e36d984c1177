"""Covariates: numbers stay numbers, text is categorical, a typo in a number column is an
error (never a factor with one level per value), and declared categorical codes are
dummy-coded as statsmodels' C() does."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from statsmodels.stats.anova import anova_lm

from sfckit.errors import UserError
from sfckit.stats.design import covariate_design
from sfckit.stats.group_tests import group_statistics


def cohort(seed=0, n=36):
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(
        {
            "group": np.repeat(["A", "B", "C"], n // 3),
            "age": rng.normal(30, 6, n).round(1),
            "sex": rng.choice(["F", "M"], n),
            "site": rng.choice([1, 2, 3], n),
        },
        index=[f"sub-{i:02d}" for i in range(n)],
    )
    data["y"] = 0.05 * data["age"] + 0.4 * (data["site"] == 2) + rng.normal(0, 1, n)
    return data


def test_a_typo_in_a_numeric_covariate_is_an_error_naming_participant_and_value():
    data = cohort()
    data["age"] = data["age"].astype(object)
    data.loc["sub-07", "age"] = "4O"
    with pytest.raises(UserError) as caught:
        covariate_design(data, ["age"], source="m.tsv")
    message = str(caught.value)
    assert "covariate 'age' holds numbers and text: value '4O' for participant sub-07" in message
    assert "(35 numeric, 1 not)" in message and "--categorical age" in message


def test_all_missing_and_constant_covariates_say_which():
    data = cohort().assign(empty=np.nan, constant=1.0)
    with pytest.raises(UserError, match="'empty' is all missing"):
        covariate_design(data, ["empty"])
    with pytest.raises(UserError, match="'constant' has no variance"):
        covariate_design(data, ["constant"])


def test_kinds_and_declared_categorical_codes_match_statsmodels():
    data = cohort()
    design = covariate_design(data, ["age", "sex", "site"], categorical=["site"])
    assert design.kinds == {
        "age": "numeric",
        "sex": "categorical (text values)",
        "site": "categorical (declared)",
    }
    assert design.names == ["age", "sex[M]", "site[2]", "site[3]"]
    stats, _ = group_statistics(
        data[["y"]], data, covariates=["age", "sex", "site"], categorical=["site"]
    )
    reference = anova_lm(smf.ols("y ~ C(group) + age + C(sex) + C(site)", data).fit(), typ=2)
    assert stats["F"].iloc[0] == pytest.approx(reference.loc["C(group)", "F"], rel=1e-8)
    assert stats["df2"].iloc[0] == reference.loc["Residual", "df"]
