"""ComBat: equal to neuroCombat, fitted on training rows only, label-blind, unseen-site policy."""

import contextlib
import io

import numpy as np
import pandas as pd
import pytest

from sfckit.declarations.base import validate_settings
from sfckit.declarations.settings import BenchmarkSettings
from sfckit.errors import UserError
from sfckit.learn.benchmark import benchmark
from sfckit.learn.harmonize import ComBat
from sfckit.learn.tests.helpers import classification_data


def site_data(seed=0, n=90, p=25, shifts=(0.0, 1.0, -0.8), scales=(1.0, 1.6, 0.7)):
    """Features with additive and multiplicative site effects and a planted age slope."""
    rng = np.random.default_rng(seed)
    site = np.arange(n) % len(shifts)
    age = rng.integers(20, 65, n).astype(float)
    sex = rng.integers(0, 2, n).astype(float)
    base = rng.normal(size=p)
    noise = rng.normal(size=(n, p)) * np.take(scales, site)[:, None]
    X = base + 0.05 * age[:, None] + np.take(shifts, site)[:, None] + noise
    return X, site, age, sex


def test_equals_neurocombat_on_the_training_data():
    from neuroCombat import neuroCombat as neurocombat

    X, site, age, sex = site_data()
    covars = pd.DataFrame({"site": site, "age": age, "sex": sex})
    with contextlib.redirect_stdout(io.StringIO()):
        reference = neurocombat(X.T.copy(), covars, "site", continuous_cols=["age", "sex"])
    ours = ComBat(n_covariates=2).fit_transform(np.column_stack([X, site, age, sex]))
    np.testing.assert_allclose(ours, reference["data"].T, atol=1e-8)


def test_new_participants_of_known_sites_are_harmonised_with_their_own_covariates():
    X, site, age, sex = site_data(n=600)
    train, test = np.arange(600) < 450, np.arange(600) >= 450
    inputs = np.column_stack([X, site, age])
    combat = ComBat(n_covariates=1).fit(inputs[train])
    harmonized = combat.transform(inputs[test])
    residual = harmonized - 0.05 * age[test, None]
    site_means = np.array([residual[site[test] == s].mean() for s in range(3)])
    site_sds = np.array([residual[site[test] == s].std() for s in range(3)])
    raw_means = np.array(
        [(X - 0.05 * age[:, None])[test][site[test] == s].mean() for s in range(3)]
    )
    assert np.ptp(raw_means) > 1.5 and np.ptp(site_means) < 0.15
    assert np.ptp(site_sds) < 0.15
    slopes = np.polyfit(age[test], harmonized, 1)[0]
    assert abs(slopes.mean() - 0.05) < 0.01


def test_labels_are_never_used_and_passthrough_columns_are_untouched():
    X, site, age, _ = site_data(seed=3)
    clinical = np.random.default_rng(4).normal(size=(len(X), 2))
    inputs = np.column_stack([X, clinical, site, age])
    labels = np.arange(len(X)) % 2
    first = ComBat(n_covariates=1, n_passthrough=2).fit(inputs, labels).transform(inputs)
    second = ComBat(n_covariates=1, n_passthrough=2).fit(inputs, labels[::-1]).transform(inputs)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first[:, -2:], clinical)
    assert first.shape == (len(X), X.shape[1] + 2)


def test_missing_values_stay_missing():
    X, site, age, _ = site_data(seed=5)
    X[3, 0] = np.nan
    out = ComBat(n_covariates=1).fit_transform(np.column_stack([X, site, age]))
    assert np.isnan(out[3, 0])
    assert np.isfinite(np.delete(out.ravel(), 3 * X.shape[1])).all()


def test_unseen_site_policy():
    X, site, age, _ = site_data(seed=6, n=300, shifts=(0.0, 0.5, 4.0), scales=(1.0, 1.0, 3.0))
    inputs = np.column_stack([X, site, age])
    known = site < 2
    combat = ComBat(n_covariates=1, site_names=("A", "B", "C")).fit(inputs[known])
    with pytest.raises(UserError, match="site 'C' was not in the data ComBat was fitted on"):
        combat.transform(inputs[~known])
    combat.set_params(unseen_site="reference")
    mapped = combat.transform(inputs[~known]) - 0.05 * age[~known, None]
    reference = combat.transform(inputs[known]) - 0.05 * age[known, None]
    raw = X[~known] - 0.05 * age[~known, None]
    assert abs(raw.mean() - reference.mean()) > 3
    assert abs(mapped.mean() - reference.mean()) < 0.2
    assert abs(mapped.std() / reference.std() - 1) < 0.15


def site_confounded_data(seed=0, n=240):
    """Only the site differs in the features, and site A holds most positives."""
    rng = np.random.default_rng(seed)
    site = np.where(np.arange(n) < n // 2, "A", "B")
    y = np.where(site == "A", rng.random(n) < 0.8, rng.random(n) < 0.2).astype(int)
    X = rng.normal(size=(n, 15)) + np.where(site == "A", 1.0, 0.0)[:, None]
    clinical = pd.DataFrame(
        {"site": site, "age": rng.normal(40, 10, n), "noise": rng.normal(size=n)},
        index=[f"p{i}" for i in range(n)],
    )
    return classification_data(X, y, clinical)


@pytest.mark.slow
def test_combat_inside_the_folds_removes_a_site_only_signal():
    settings = BenchmarkSettings(
        positive="TRD",
        negative="nTRD",
        clinical=("noise",),
        model="logistic",
        repeats=1,
        inner=3,
        site_column="site",
        harmonize="combat",
        harmonize_covariates=("age",),
        n_bootstrap=50,
    )
    result = benchmark(site_confounded_data(), settings, source="test", progress=False)
    aucs = result.summary.set_index("model")["auc"]
    assert aucs["imaging_unharmonized"] > 0.7
    assert abs(aucs["imaging"] - 0.5) < 0.12
    assert {"imaging", "imaging_unharmonized"} <= set(result.per_site["model"])
    assert result.extra["harmonization"]["covariates_preserved"] == ["age"]
    assert ("imaging", "imaging_unharmonized") in set(
        zip(result.comparisons["model_a"], result.comparisons["model_b"], strict=True)
    )


@pytest.mark.slow
def test_leave_site_out_with_a_reference_mapping():
    data = site_confounded_data(seed=1, n=160)
    data.clinical["site"] = np.tile(["a", "b", "c", "d"], 40)
    settings = BenchmarkSettings(
        positive="TRD",
        negative="nTRD",
        clinical=("noise",),
        model="logistic",
        inner=3,
        site_column="site",
        validation="leave-site-out",
        harmonize="combat",
        unseen_site="reference",
        n_bootstrap=50,
    )
    result = benchmark(data, settings, source="test", progress=False)
    assert set(result.per_site["site"]) == {"a", "b", "c", "d"}
    assert result.predictions.groupby("model")["participant_id"].nunique().eq(160).all()


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"site_column": None}, "needs a site column"),
        ({"site_column": "one"}, "only one site"),
        ({"site_column": "tiny"}, "fewer than 2 participants"),
        ({"validation": "leave-site-out"}, "--unseen-site is 'error'"),
        ({"harmonize_covariates": ("group",)}, "the diagnosis being predicted"),
        ({"harmonize_covariates": ("gap",)}, "is missing for 1 participant"),
        ({"harmonize": "neurocombat"}, "invalid --harmonize: Input should be 'combat'"),
        ({"unseen_site": "ignore"}, "invalid --unseen-site: Input should be 'error' or"),
        ({"harmonize": None, "site_column": "scanner"}, "'scanner' does not exist"),
    ],
)
def test_bad_harmonization_input(change, fragment):
    data = site_confounded_data(seed=2, n=60)
    data.clinical["one"] = "x"
    data.clinical["tiny"] = np.r_[["lonely"], np.tile(["s1", "s2"], 30)[1:]]
    data.clinical["gap"] = np.r_[np.nan, np.ones(59)]
    values = {
        "positive": "TRD",
        "negative": "nTRD",
        "clinical": ("noise",),
        "model": "logistic",
        "repeats": 1,
        "inner": 3,
        "site_column": "site",
        "harmonize": "combat",
        **change,
    }
    with pytest.raises(UserError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        benchmark(data, validate_settings(BenchmarkSettings, values), source="m.tsv")


def test_site_strata_never_leave_a_cell_smaller_than_the_folds():
    from sfckit.learn.nested import site_strata

    y = np.array([0] * 13 + [1] * 7)
    sites = np.array(["A"] * 10 + ["B"] * 2 + ["C"] + ["A"] * 6 + ["B"])
    strata = site_strata(y, sites, n_splits=3)
    assert strata[:10].tolist() == ["0|A"] * 10
    assert set(strata[10:13]) == {"0|small"}
    assert set(strata[13:]) == {"1|A"}  # a lone small cell joins its class's largest cell
    assert pd.Series(strata).value_counts().min() >= 3
