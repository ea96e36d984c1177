"""Normative models: held-out controls get calibrated deviations (age and site effects
planted), a planted individual deviation is found, a new site is transferred from a few of
its controls, and a control's deviation never comes from a model that saw its fold."""

import json

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold

from sfckit.cli import main
from sfckit.errors import UserError
from sfckit.io.tables import read_tsv
from sfckit.learn.normative import NormativeModel, held_out_control_z

OFFSET = {"A": 0.0, "B": 0.3, "C": -0.2, "D": 0.5}
SCALE = {"A": 1.0, "B": 1.3, "C": 0.8, "D": 1.5}


def cohort(n=300, regions=6, seed=0, sites=("A", "B", "C"), weights=(0.5, 0.3, 0.2)):
    rng = np.random.default_rng(seed)
    age = rng.uniform(18, 65, n)
    sex = rng.choice(["F", "M"], n)
    site = rng.choice(list(sites), n, p=list(weights))
    mean = 0.5 - 0.004 * (age - 40) + 0.0001 * (age - 40) ** 2 + 0.05 * (sex == "M")
    shift = np.array([OFFSET[s] for s in site]) * 0.1
    spread = np.array([SCALE[s] for s in site]) * 0.1
    Y = np.column_stack(
        [mean + 0.1 * k + shift + rng.normal(0, 1, n) * spread for k in range(regions)]
    )
    return Y, age, sex, site


def test_held_out_controls_have_calibrated_deviations_in_every_region():
    Y, age, sex, site = cohort()
    z = held_out_control_z(Y, age, sex, site)
    assert np.all(np.abs(z.mean(axis=0)) <= 0.1)
    assert np.all((z.std(axis=0) >= 0.9) & (z.std(axis=0) <= 1.1))
    for name in ("A", "B", "C"):  # site scale absorbed too
        assert np.all(np.abs(z[site == name].std(axis=0) - 1) < 0.2)


def test_a_planted_individual_deviation_is_recovered():
    Y, age, sex, site = cohort(seed=1)
    model = NormativeModel().fit(Y, age, sex, site)
    patient = Y[:1].copy()
    base = model.z_scores(patient, age[:1], sex[:1], site[:1])[0]
    sd = 0.1 * SCALE[site[0]]
    patient[0, 2] += 4 * sd
    z = model.z_scores(patient, age[:1], sex[:1], site[:1])[0]
    assert z[2] - base[2] == pytest.approx(4, abs=0.5) and z[2] > 2.6
    np.testing.assert_allclose(np.delete(z, 2), np.delete(base, 2))


def test_a_new_site_is_transferred_from_a_few_controls():
    Y, age, sex, site = cohort(seed=2)
    new = cohort(n=60, seed=3, sites=("D",), weights=(1.0,))
    model = NormativeModel().fit(Y, age, sex, site)
    with pytest.raises(UserError, match="site 'D' is unknown"):
        model.z_scores(new[0], new[1], new[2], new[3])
    with pytest.raises(UserError, match="has 3 control"):
        model.transfer("D", new[0][:3], new[1][:3], new[2][:3])
    means, sds, untransferred = [], [], []
    for seed in range(8):  # one site's offset from 30 controls has an SE of ~0.25 SD
        Y, age, sex, site = cohort(seed=seed)
        new = cohort(n=60, seed=100 + seed, sites=("D",), weights=(1.0,))
        model = NormativeModel().fit(Y, age, sex, site)
        model.site_offset["D"], model.site_scale["D"] = np.zeros(6), np.ones(6)
        untransferred.append(model.z_scores(new[0][30:], new[1][30:], new[2][30:], new[3][30:]))
        model.transfer("D", new[0][:30], new[1][:30], new[2][:30])
        z = model.z_scores(new[0][30:], new[1][30:], new[2][30:], new[3][30:])
        means.append(z.mean(axis=0))
        sds.append(z.std(axis=0))
    assert abs(np.mean(means)) < 0.15 and np.std(means) < 0.35
    assert 0.85 < np.mean(sds) < 1.15
    assert np.mean([u.std(axis=0) for u in untransferred]) > 1.3  # site D's scale, unadapted


def test_a_control_is_scored_by_a_model_that_never_saw_its_fold():
    Y, age, sex, site = cohort(n=120, seed=4)
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(Y, site))
    train, test = folds[0]
    i, same_fold, other_fold = test[0], test[1], train[0]
    z = held_out_control_z(Y, age, sex, site, seed=0)
    for j, changes in ((same_fold, False), (other_fold, True)):
        moved = Y.copy()
        moved[j] += 5.0
        z_moved = held_out_control_z(moved, age, sex, site, seed=0)
        assert np.allclose(z_moved[i], z[i]) != changes, j


def test_normative_step_and_deviations_in_the_benchmark(reference_study, tmp_path, capsys):
    manifest, features = reference_study
    out = tmp_path / "normative"
    args = ["normative", "--features", str(features / "sfc.tsv"), "--manifest", str(manifest)]
    assert main([*args, "--controls", "HC", "--out", str(out), "--quiet"]) == 0
    fit = read_tsv(out / "normative_fit.tsv")
    assert (fit["controls_z_mean"].abs() < 0.25).all()
    deviations = read_tsv(out / "deviations.tsv")
    assert len(deviations) == len(read_tsv(manifest))
    people = read_tsv(out / "extreme_participants.tsv").set_index("participant_id")
    assert set(people["group"]) == {"TRD", "nTRD", "HC"}
    maps = sorted((out / "deviation_maps").glob("*.nii.gz"))
    assert len(maps) == len(deviations)
    description = json.loads((out / "dataset_description.json").read_text())
    assert description["GeneratedBy"][0]["Parameters"]["controls"] == "HC"
    bench = ["benchmark", "--features", str(features / "sfc.tsv"), "--manifest", str(manifest)]
    bench += ["--clinical", "age", "--model", "logistic", "--repeats", "1", "--quiet"]
    bench += ["--deviations", str(out / "deviations.tsv"), "--audit-confounds", ""]
    status = main([*bench, "--positive", "TRD", "--negative", "nTRD", "--out", str(tmp_path / "b")])
    assert status == 0, capsys.readouterr().err
    comparisons = read_tsv(tmp_path / "b" / "comparisons.tsv")
    row = comparisons[comparisons["model_a"] == "imaging_deviations"].iloc[0]
    assert row["model_b"] == "imaging" and 0 <= row["delong_p"] <= 1
    status = main([*bench, "--positive", "TRD", "--negative", "HC", "--out", str(tmp_path / "c")])
    assert status == 2 and "normative controls 'HC' are one of the classes" in (
        capsys.readouterr().err
    )
