"""Nested CV: no leakage on noise, signal on the simulated cohort, metrics vs references."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from sfckit.cli import main
from sfckit.declarations.base import validate_settings
from sfckit.declarations.settings import ClassifySettings
from sfckit.errors import UserError
from sfckit.io.tables import read_tsv
from sfckit.learn.metrics import auc_with_ci, rank_auc, roc_table, threshold_metrics
from sfckit.learn.nested import nested_cv, outer_splits
from sfckit.learn.sample_size import sample_size_verdict
from sfckit.steps import classify
from sfckit.steps.base import Execution


def noise(seed, n=80, p=500):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, p)), rng.permutation(np.repeat([0, 1], n // 2))


@pytest.mark.slow
def test_nested_cv_on_noise_stays_at_chance_while_leaky_selection_inflates():
    nested, leaky = [], []
    for seed in range(8):
        X, y = noise(seed)
        splits = outer_splits(y, n_splits=5, n_repeats=1, seed=seed)
        result = nested_cv(
            X,
            y,
            model="logistic",
            splits=splits,
            inner=4,
            seed=seed,
            importance=False,
            progress=False,
        )
        nested.append(roc_auc_score(result.predictions["y_true"], result.predictions["y_score"]))
        # The classic mistake, written out: select features on all data, then cross-validate.
        selected = SelectKBest(f_classif, k=10).fit_transform(X, y)
        scores = cross_val_predict(
            LogisticRegression(),
            selected,
            y,
            method="decision_function",
            cv=StratifiedKFold(5, shuffle=True, random_state=seed),
        )
        leaky.append(roc_auc_score(y, scores))
    # null AUCs of n = 80 scatter with SD about 0.065 around 0.5; leaky ones sit far above
    assert all(abs(a - 0.5) <= 0.2 for a in nested), nested
    assert abs(np.mean(nested) - 0.5) < 0.05, nested
    assert min(leaky) > 0.75 and np.mean(leaky) - np.mean(nested) > 0.3, leaky


def test_rank_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    scores = np.round(rng.normal(size=200) + y, 1)  # many ties
    assert rank_auc(y, scores) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
    batch = rank_auc(np.vstack([y, y]), np.vstack([scores, -scores]))
    np.testing.assert_allclose(batch, [roc_auc_score(y, scores), roc_auc_score(y, -scores)])


def make_predictions(rng, repeats=3, n=60):
    y = np.repeat([0, 1], n // 2)
    frames = []
    for repeat in range(repeats):
        score = y + rng.normal(size=n)
        frames.append(
            pd.DataFrame(
                {
                    "participant_id": [f"p{i}" for i in range(n)],
                    "repeat": repeat,
                    "fold": 0,
                    "y_true": y,
                    "y_score": score,
                    "y_pred": (score > 0.5).astype(int),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_the_headline_auc_is_that_of_the_pooled_predictions():
    predictions = make_predictions(np.random.default_rng(1))
    result = auc_with_ci(predictions, n_bootstrap=500)
    mean_repeats = np.mean(
        [roc_auc_score(p["y_true"], p["y_score"]) for _, p in predictions.groupby("repeat")]
    )
    pooled = predictions.groupby("participant_id").agg(
        y_true=("y_true", "first"), y_score=("y_score", "mean")
    )
    assert result["auc"] == pytest.approx(roc_auc_score(pooled["y_true"], pooled["y_score"]))
    assert result["auc_mean_repeats"] == pytest.approx(mean_repeats)
    assert result["auc"] != pytest.approx(mean_repeats)  # two numbers, two names
    assert result["auc_ci_low"] < result["auc"] < result["auc_ci_high"]
    rates = threshold_metrics(predictions)
    first = predictions[predictions["repeat"] == 0]
    sensitivity = np.mean(first.loc[first["y_true"] == 1, "y_pred"] == 1)
    assert 0 < rates["sensitivity"] <= 1
    assert rates["balanced_accuracy"] == pytest.approx(
        (rates["sensitivity"] + rates["specificity"]) / 2
    )
    assert abs(rates["sensitivity"] - sensitivity) < 0.3
    roc = roc_table(predictions)
    assert roc["tpr"].iloc[0] == 0 and roc["tpr"].iloc[-1] == 1
    assert (roc["tpr_low"] <= roc["tpr"]).all() and (roc["tpr"] <= roc["tpr_high"]).all()


@pytest.fixture(scope="module")
def classified(reference_study, tmp_path_factory):
    manifest, features = reference_study
    out = tmp_path_factory.mktemp("classify")
    settings = ClassifySettings(
        positive="TRD", negative="nTRD", model="logistic", repeats=2, permutations=4, seed=3
    )
    inputs = {"features": features / "sfc.tsv", "manifest": manifest}
    metrics = classify.run(inputs, out, settings, Execution(jobs=2))
    return out, metrics


def test_simulated_cohort_is_classified_well_above_chance(classified):
    out, metrics = classified
    assert metrics["auc"] > 0.8
    assert metrics["auc_ci_low"] > 0.7
    assert metrics["permutation_auc_mean"] < 0.65
    assert metrics["perm_p"] == pytest.approx(1 / 5)  # no permutation beats the real labels
    assert (metrics["n_positive"], metrics["n_negative"]) == (72, 154)
    assert len(metrics["hyperparameters"]) == 10
    importance = read_tsv(out / "feature_importance.tsv")
    top = set(importance["region"].head(8))
    assert {"Right_Middle_Frontal_Gyrus", "Left_Precentral_Gyrus"} <= top
    assert importance["selection_frequency"].between(0, 1).all()


def test_outputs_have_the_documented_columns(classified):
    out, _ = classified
    predictions = read_tsv(out / "predictions.tsv")
    assert list(predictions.columns) == [
        "participant_id",
        "repeat",
        "fold",
        "y_true",
        "y_score",
        "y_pred",
        "note",
    ]
    assert len(predictions) == 2 * 226
    assert predictions.groupby("repeat")["participant_id"].nunique().eq(226).all()
    metrics = json.loads((out / "metrics.json").read_text())
    for key in (
        "auc",
        "auc_ci_low",
        "auc_ci_high",
        "balanced_accuracy",
        "sensitivity",
        "specificity",
        "perm_p",
        "n_positive",
        "n_negative",
        "hyperparameters",
    ):
        assert key in metrics
    assert list(read_tsv(out / "roc.tsv").columns) == ["fpr", "tpr", "tpr_low", "tpr_high"]


def test_deterministic_under_seed_and_jobs(tmp_path):
    X, y = noise(5, n=40, p=30)
    X[y == 1, :3] += 1.0
    splits = outer_splits(y, n_splits=4, n_repeats=2, seed=1)
    first = nested_cv(X, y, model="svm", splits=splits, inner=3, seed=1, jobs=1, progress=False)
    second = nested_cv(X, y, model="svm", splits=splits, inner=3, seed=1, jobs=2, progress=False)
    pd.testing.assert_frame_equal(first.predictions, second.predictions)
    assert [f.best_params for f in first.folds] == [f.best_params for f in second.folds]


@pytest.mark.slow
def test_xgboost_runs_with_balanced_weights():
    X, y = noise(6, n=48, p=12)
    y = np.r_[np.zeros(34, int), np.ones(14, int)]
    X[y == 1, :2] += 1.5
    result = nested_cv(
        X,
        y,
        model="xgboost",
        splits=outer_splits(y, n_splits=3, n_repeats=1, seed=0),
        inner=3,
        select_k="all",
        importance=False,
        progress=False,
    )
    assert roc_auc_score(result.predictions["y_true"], result.predictions["y_score"]) > 0.7
    assert result.predictions["y_pred"].sum() > 5  # the minority class is predicted


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"positive": "MDD"}, "positive label 'MDD' does not occur"),
        ({"model": "forest"}, "invalid --model: Input should be 'svm', 'logistic' or 'xgboost'"),
        ({"outer": 100}, "too few for 100 outer"),
        ({"select_k": 5000}, "invalid --select-k"),
    ],
)
def test_bad_settings_are_user_errors(reference_study, tmp_path, change, fragment):
    manifest, features = reference_study
    values = {"positive": "TRD", "negative": "nTRD", "repeats": 1, "permutations": 0, **change}
    inputs = {"features": features / "sfc.tsv", "manifest": manifest}
    with pytest.raises(UserError, match=fragment):
        classify.run(inputs, tmp_path, validate_settings(ClassifySettings, values))
    assert not (tmp_path / "metrics.json").exists()


def test_all_nan_region_is_dropped_with_a_warning(reference_study, tmp_path, capsys):
    manifest, features = reference_study
    table = read_tsv(features / "sfc.tsv")
    table["Left_Accumbens"] = np.nan
    table.to_csv(tmp_path / "sfc.tsv", sep="\t", index=False)
    status = main(
        [
            "classify",
            "--features",
            str(tmp_path / "sfc.tsv"),
            "--manifest",
            str(manifest),
            "--positive",
            "TRD",
            "--negative",
            "nTRD",
            "--out",
            str(tmp_path / "out"),
            "--model",
            "logistic",
            "--repeats",
            "1",
            "--permutations",
            "0",
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert status == 0, err
    assert "1 region(s) have a value for fewer than 50% of participants" in err
    assert "Left_Accumbens (0%)" in err
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["dropped_regions"] == ["Left_Accumbens"]
    assert metrics["n_features"] == table.shape[1] - 2
    dropped = read_tsv(tmp_path / "out" / "dropped_regions.tsv")
    assert dropped["region"].tolist() == ["Left_Accumbens"] and dropped["coverage"].iloc[0] == 0


def test_constant_features_are_refused(reference_study, tmp_path, capsys):
    manifest, features = reference_study
    table = read_tsv(features / "sfc.tsv")
    table.iloc[:, 1:] = 0.25
    table.to_csv(tmp_path / "sfc.tsv", sep="\t", index=False)
    args = ["classify", "--features", str(tmp_path / "sfc.tsv"), "--manifest", str(manifest)]
    args += ["--positive", "TRD", "--negative", "nTRD", "--out", str(tmp_path / "out")]
    assert main([*args, "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "every feature is constant" in err and err.count("\n") == 0
    assert not (tmp_path / "out").exists()


def test_learning_curve_cuts_training_sets_only(reference_study, tmp_path):
    from sfckit.learn.nested import subsampled_splits

    y = np.repeat([0, 1], [60, 30])
    splits = outer_splits(y, n_splits=5, n_repeats=1, seed=0)
    reduced = subsampled_splits(splits, y, fraction=0.3, seed=0)
    for full, cut in zip(splits, reduced, strict=True):
        assert np.array_equal(full.test, cut.test)  # same participants scored
        assert set(cut.train) <= set(full.train)
        assert np.sum(y[cut.train] == 1) == round(0.3 * np.sum(y[full.train] == 1))
    manifest, features = reference_study
    settings = ClassifySettings(
        positive="TRD",
        negative="nTRD",
        model="logistic",
        repeats=1,
        permutations=0,
        learning_curve=(0.3,),
    )
    inputs = {"features": features / "sfc.tsv", "manifest": manifest}
    classify.run(inputs, tmp_path, settings)
    curve = read_tsv(tmp_path / "learning_curve.tsv")
    assert curve["fraction"].tolist() == [0.3, 1.0]
    assert curve["n_train"].iloc[0] < 0.35 * curve["n_train"].iloc[1]
    assert (curve["auc_ci_low"] <= curve["auc"]).all() and (
        curve["auc"] <= curve["auc_ci_high"]
    ).all()
    assert curve["auc"].iloc[1] > 0.7  # the full run
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    size = read_tsv(tmp_path / "sample_size.tsv")
    expected, _ = sample_size_verdict(
        parameters=metrics["n_features"],
        n_positive=metrics["n_positive"],
        n_negative=metrics["n_negative"],
        c_statistic=metrics["auc"],
    )
    assert size["sample_size"].tolist() == expected["sample_size"].tolist()
    assert metrics["sample_size"]["minimum_n"] == size["sample_size"].iloc[-1]
    assert metrics["sample_size"]["adequate"] == (
        metrics["n_positive"] + metrics["n_negative"] >= size["sample_size"].iloc[-1]
    )
    with pytest.raises(ValueError, match="fractions must lie in"):
        ClassifySettings(positive="TRD", negative="nTRD", learning_curve=(1.5,))


def test_permutation_drops_equal_scikit_learn_and_unused_columns_are_exactly_zero():
    from sklearn.feature_selection import SelectKBest, f_classif
    from sklearn.inspection import permutation_importance
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from sfckit.learn.nested import permutation_drops

    rng = np.random.default_rng(8)
    X = rng.normal(size=(120, 12))
    y = (X[:, 0] + 0.7 * X[:, 3] + rng.normal(size=120) > 0).astype(int)
    fitted = make_pipeline(SelectKBest(f_classif, k=4), LogisticRegression()).fit(X, y)
    reference = permutation_importance(
        fitted, X, y, scoring="roc_auc", n_repeats=1, random_state=3
    ).importances_mean
    ours = permutation_drops(fitted, X, y, columns=np.arange(12), seed=3)
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-12)
    used = fitted.named_steps["selectkbest"].get_support()
    assert (reference[~used] == 0).all()  # what lets the folds skip those columns
    only_used = permutation_drops(fitted, X, y, columns=np.flatnonzero(used), seed=3)
    np.testing.assert_allclose(only_used, reference, rtol=0, atol=1e-12)
