"""sfckit's nested cross-validation against the same procedure written plainly with
scikit-learn, as whole processes on a reference-sized simulated cohort.

``python benchmarks/nested.py plain --features F --manifest M --model svm ...`` is the
baseline: the same data loader, outer folds, inner folds, pipeline and grid as
``sfckit classify``, tuned with ``GridSearchCV`` and (SVM) Platt-scaled with
``CalibratedClassifierCV``; it prints the pooled AUC and each fold's chosen parameters as
JSON, which :func:`target_nested` compares with what ``sfckit classify`` wrote.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
from whole import SFCKIT, whole_process

HERE = Path(__file__).resolve()


def plain_nested(arguments: argparse.Namespace) -> dict:
    """GridSearchCV + CalibratedClassifierCV on sfckit's folds; pooled AUC and parameters."""
    from sklearn.base import clone
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from threadpoolctl import threadpool_limits

    from sfckit.learn.data import load_classification_data
    from sfckit.learn.models import build_pipeline, check_model, parameter_grid
    from sfckit.learn.nested import outer_splits, tuning_scoring

    data = load_classification_data(
        arguments.features, arguments.manifest, positive="TRD", negative="nTRD"
    )
    X, y, seed = data.X, data.y, arguments.seed
    splits = outer_splits(y, n_splits=arguments.outer, n_repeats=arguments.repeats, seed=seed)
    scores = np.zeros((arguments.repeats, y.size))
    chosen = []
    with threadpool_limits(limits=1):
        for split in splits:
            inner_cv = StratifiedKFold(
                arguments.inner, shuffle=True, random_state=seed + 1000 * split.repeat + split.fold
            )
            search = GridSearchCV(
                build_pipeline(arguments.model, seed=seed),
                parameter_grid(arguments.model, n_features=X.shape[1]),
                scoring=tuning_scoring(arguments.model),
                cv=inner_cv,
            ).fit(X[split.train], y[split.train])
            estimator = search.best_estimator_
            if not check_model(arguments.model).has_probabilities:
                estimator = CalibratedClassifierCV(
                    clone(estimator), method="sigmoid", cv=inner_cv, ensemble=False
                ).fit(X[split.train], y[split.train])
            scores[split.repeat, split.test] = estimator.predict_proba(X[split.test])[:, 1]
            chosen.append({"repeat": split.repeat, "fold": split.fold, **search.best_params_})
    return {"auc": float(roc_auc_score(y, scores.mean(axis=0))), "params": chosen}


def _as_sfckit_params(record: dict) -> dict:
    """metrics.json's per-fold parameters, named as GridSearchCV names them."""
    named = {"repeat": record["repeat"], "fold": record["fold"]}
    for key, value in record["params"].items():
        named["select__k" if key == "select_k" else f"model__{key}"] = value
    return named


def make_cohort(folder: Path) -> tuple[Path, Path]:
    """The reference-sized simulated cohort (72 TRD, 154 nTRD, 84 HC), Harvard-Oxford SFC."""
    cohort, features = folder / "cohort", folder / "features"
    whole_process([SFCKIT, "simulate", "--out", str(cohort), "--jobs", "2", "--quiet"])
    whole_process(
        [SFCKIT, "extract", "--manifest", str(cohort / "manifest.tsv"), "--out", str(features),
         "--jobs", "2", "--quiet"]
    )  # fmt: skip
    return features / "sfc.tsv", cohort / "manifest.tsv"


def target_nested(folder: Path, *, rounds: int = 3, repeats: int = 2) -> dict:
    """Alternated whole processes: ``sfckit classify`` (with and without permutation
    importance) and the plain procedure, per model; wall ratio, AUC difference, same
    parameters in every fold."""
    features, manifest = make_cohort(folder)
    common = ["--outer", "5", "--repeats", str(repeats), "--inner", "5", "--seed", "0"]
    results = {}
    for model in ("svm", "logistic"):
        times: dict[str, list[float]] = {"sfckit": [], "sfckit_no_importance": [], "plain": []}
        peaks: dict[str, float] = {}
        for round_ in range(rounds):
            for variant in times:
                if variant == "plain":
                    command = [sys.executable, str(HERE), "plain", "--features", str(features),
                               "--manifest", str(manifest), "--model", model, *common]  # fmt: skip
                else:
                    out = folder / f"{model}-{variant}-{round_}"
                    command = [SFCKIT, "classify", "--features", str(features), "--manifest",
                               str(manifest), "--out", str(out), "--positive", "TRD",
                               "--negative", "nTRD", "--model", model, "--permutations", "0",
                               "--jobs", "1", "--quiet", *common]  # fmt: skip
                    if variant == "sfckit_no_importance":
                        command.append("--no-importance")
                measured = whole_process(command)
                times[variant].append(measured["seconds"])
                peaks[variant] = max(peaks.get(variant, 0.0), measured["peak_rss_mb"])
                if variant == "plain":
                    plain = json.loads(measured["stdout"])
        ours = json.loads((folder / f"{model}-sfckit-0" / "metrics.json").read_text())
        ours_params = [_as_sfckit_params(r) for r in ours["hyperparameters"]]
        plain_params = [{k: v for k, v in p.items()} for p in plain["params"]]
        median = {variant: float(np.median(values)) for variant, values in times.items()}
        results[model] = {
            "seconds_median": {k: round(v, 2) for k, v in median.items()},
            "ratio_vs_plain": round(median["sfckit"] / median["plain"], 3),
            "ratio_vs_plain_no_importance": round(
                median["sfckit_no_importance"] / median["plain"], 3
            ),
            "auc_sfckit": ours["auc"],
            "auc_plain": plain["auc"],
            "auc_abs_difference": abs(ours["auc"] - plain["auc"]),
            "same_parameters_every_fold": ours_params == plain_params,
            "peak_rss_mb": {k: round(v) for k, v in peaks.items()},
        }
    return {"cohort": "72 TRD + 154 nTRD, 111 Harvard-Oxford regions", "rounds": rounds,
            "repeats": repeats, **results}  # fmt: skip


def target_study_settings(folder: Path, *, permutations: int = 1000) -> dict:
    """``sfckit classify`` with the study's settings (10 repeats, 1,000 permutations, SVM) on
    2 workers, whole process, wall and CPU seconds."""
    features, manifest = make_cohort(folder)
    before = os.times()
    measured = whole_process(
        [SFCKIT, "classify", "--features", str(features), "--manifest", str(manifest),
         "--out", str(folder / "study"), "--positive", "TRD", "--negative", "nTRD",
         "--model", "svm", "--repeats", "10", "--permutations", str(permutations),
         "--jobs", "2", "--quiet"]
    )  # fmt: skip
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return {
        "permutations": permutations,
        "wall_seconds": round(measured["seconds"], 1),
        "cpu_seconds": round(cpu, 1),
        "peak_rss_mb": round(measured["peak_rss_mb"]),
    }


def target_tms(folder: Path) -> dict:
    """``sfckit tms-target`` as whole processes for 1 and 3 participants (120-volume, 3 mm
    runs: the difference is the cost of two more runs), and its band-pass against nilearn's
    default (in place, one voxel at a time) on one run's search region, same numbers."""
    import time

    from nilearn.signal import clean

    from sfckit.declarations.settings import SimulationSettings
    from sfckit.features.tms import FILTER_PADDING, band_passed
    from sfckit.simulate.cohort import simulate_cohort

    settings = SimulationSettings(
        seed=1, n_trd=1, n_ntrd=1, n_hc=1, kind="bold", resolution=3.0, n_volumes=120,
        tms_cluster=True, assignment="none",
    )  # fmt: skip
    manifest = simulate_cohort(folder / "cohort", settings, jobs=1, progress=False)
    one = manifest.with_name("one.tsv")
    one.write_text("\n".join(manifest.read_text().splitlines()[:2]) + "\n")
    seconds = {}
    for name, path in (("one", one), ("three", manifest)):
        runs = [
            whole_process(
                [SFCKIT, "tms-target", "--manifest", str(path), "--out",
                 str(folder / f"{name}-{i}"), "--quiet"]
            )["seconds"]
            for i in range(3)
        ]  # fmt: skip
        seconds[name] = float(np.median(runs))
    series = np.random.default_rng(0).normal(size=(120, 4000)).cumsum(axis=0)
    start = time.perf_counter()
    ours = band_passed(series, tr=2.0)
    ours_seconds = time.perf_counter() - start
    start = time.perf_counter()
    reference = clean(
        series.copy(), t_r=2.0, detrend=True, standardize="zscore_sample", low_pass=0.08,
        high_pass=0.01, filter="butterworth", butterworth__padlen=FILTER_PADDING,
    )  # fmt: skip
    nilearn_seconds = time.perf_counter() - start
    return {
        "one_participant_seconds": round(seconds["one"], 2),
        "three_participants_seconds": round(seconds["three"], 2),
        "seconds_per_further_run": round((seconds["three"] - seconds["one"]) / 2, 2),
        "band_pass_4000_voxels_seconds": round(ours_seconds, 3),
        "nilearn_default_band_pass_seconds": round(nilearn_seconds, 3),
        "band_pass_speedup": round(nilearn_seconds / ours_seconds, 1),
        "band_pass_max_abs_difference": float(np.abs(ours - reference).max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["plain"])
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--model", default="svm")
    parser.add_argument("--outer", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--inner", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    print(json.dumps(plain_nested(parser.parse_args())))


if __name__ == "__main__":
    main()
