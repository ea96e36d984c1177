"""Treatment-outcome prediction: label definitions and the nested-CV step."""

import json

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from sfckit.cli import main
from sfckit.declarations.settings import OutcomeSettings
from sfckit.errors import UserError
from sfckit.io.tables import read_tsv
from sfckit.learn.outcome import outcome_labels


def test_response_and_remission_definitions():
    clinical = pd.DataFrame({"hamd": [30, 30, 20, 25], "hamd_post": [14, 16, 7, np.nan]})
    response = outcome_labels(
        clinical, OutcomeSettings(groups=("TRD", "nTRD"), target="response"), source="m"
    )
    remission = outcome_labels(
        clinical, OutcomeSettings(groups=("TRD", "nTRD"), target="remission"), source="m"
    )
    assert response.tolist()[:3] == [1.0, 0.0, 1.0] and np.isnan(response.iloc[3])
    assert remission.tolist()[:3] == [0.0, 0.0, 1.0]
    with pytest.raises(UserError, match="outcome column 'hamd_post' does not exist"):
        outcome_labels(
            clinical.drop(columns="hamd_post"),
            OutcomeSettings(groups=("TRD", "nTRD"), target="remission"),
            source="m",
        )
    with pytest.raises(ValidationError, match="target"):
        OutcomeSettings(groups=("TRD", "nTRD"), target="relapsing")
    # a typo is an error, not a silently unknown outcome; n/a stays unknown
    typo = clinical.assign(hamd_post=["14", "1O", "7", None])
    with pytest.raises(UserError, match=r"m: column 'hamd_post' is not numeric \(value '1O'"):
        outcome_labels(
            typo, OutcomeSettings(groups=("TRD", "nTRD"), target="remission"), source="m"
        )


def test_relapse_within_horizon_and_neuromodulation_response():
    clinical = pd.DataFrame(
        {
            "relapse_months": [3.0, 14.0, 5.0, 12.0, 20.0, np.nan],
            "relapsed": [1, 1, 0, 0, 0, np.nan],
            "hamd": [30, 30, 20, 25, 30, 30],
            "hamd_post": [14, 16, 7, 20, 10, 10],
            "treatment": ["rTMS", "ECT", "medication", "rTMS", "medication", "rTMS"],
        }
    )
    relapse = outcome_labels(
        clinical, OutcomeSettings(groups=("TRD", "nTRD"), target="relapse", horizon=12), source="m"
    )
    # relapse at 3 months: 1; relapse after the horizon: 0; censored at 5 months: unknown;
    # followed exactly to the horizon without relapse: 0; no follow-up: unknown
    assert relapse.tolist()[:2] == [1.0, 0.0] and np.isnan(relapse[2])
    assert relapse.tolist()[3:5] == [0.0, 0.0] and np.isnan(relapse[5])
    neuro = outcome_labels(
        clinical, OutcomeSettings(groups=("TRD", "nTRD"), target="neuromodulation"), source="m"
    )
    assert neuro.tolist()[:2] == [1.0, 0.0] and np.isnan(neuro[2])
    assert neuro.tolist()[3] == 0.0 and np.isnan(neuro[4]) and neuro.tolist()[5] == 1.0
    with pytest.raises(UserError, match="no participant's 'treatment' is one of TMS"):
        outcome_labels(
            clinical,
            OutcomeSettings(
                groups=("TRD", "nTRD"), target="neuromodulation", neuromodulation=("TMS",)
            ),
            source="m",
        )


def test_remission_is_predicted_from_baseline_sfc(reference_study, tmp_path, capsys):
    manifest, features = reference_study
    status = main(
        [
            "predict-outcome",
            "--features",
            str(features / "sfc.tsv"),
            "--manifest",
            str(manifest),
            "--target",
            "remission",
            "--groups",
            "TRD,nTRD",
            "--out",
            str(tmp_path),
            "--repeats",
            "1",
            "--quiet",
        ]
    )
    assert status == 0
    predictions = read_tsv(tmp_path / "predictions.tsv")
    # healthy controls have no post-treatment score and are left out
    assert len(predictions) == 226
    import json

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    # in the simulation only nTRD participants remit (about 60 % of them): SFC reveals the
    # TRD non-remitters but not which nTRD participants remit, so AUC is clearly above
    # chance but far from perfect
    assert 0.6 < metrics["auc"] < 0.9
    assert metrics["definition"] == "hamd_post <= 7.0"
    for key in ("brier", "calibration_slope", "calibration_intercept", "ece", "ici"):
        assert metrics[key] is not None
    assert (tmp_path / "calibration.tsv").is_file()
    curve = pd.read_csv(tmp_path / "calibration_curve.tsv", sep="\t")
    assert list(curve.columns) == ["predicted", "observed"]
    assert curve["observed"].between(0, 1).all() and curve["predicted"].is_monotonic_increasing


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"relapsed": ["yes", 0, 1, 0]}, "column 'relapsed' is not numeric (value 'yes'"),
        ({"relapsed": [2, 0, 1, 0]}, "column 'relapsed' is 2"),
        ({"relapse_months": [0, 3, 4, 5]}, "column 'relapse_months' is 0"),
        ({"relapse_months": None}, "outcome column 'relapse_months' does not exist"),
    ],
)
def test_bad_follow_up_columns(change, fragment):
    clinical = pd.DataFrame({"relapse_months": [2.0, 3, 4, 5], "relapsed": [1, 0, 1, 0]})
    for column, values in change.items():
        if values is None:
            clinical = clinical.drop(columns=column)
        else:
            clinical[column] = values
    with pytest.raises(UserError, match=fragment.replace("(", r"\(")):
        outcome_labels(
            clinical, OutcomeSettings(groups=("TRD", "nTRD"), target="relapse"), source="m"
        )


def test_time_to_relapse_cli_on_the_simulated_cohort(reference_study, tmp_path, capsys):
    manifest, features = reference_study
    status = main(
        [
            "predict-outcome",
            "--features",
            str(features / "sfc.tsv"),
            "--manifest",
            str(manifest),
            "--target",
            "time-to-relapse",
            "--groups",
            "TRD,nTRD",
            "--out",
            str(tmp_path),
            "--repeats",
            "1",
            "--inner",
            "3",
            "--quiet",
        ]
    )
    assert status == 0
    assert "time-to-relapse: C-index" in capsys.readouterr().out
    import json

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    # TRD patients relapse 2.5 times faster and SFC identifies TRD, so risk is ranked above
    # chance; follow-up exists for the 226 patients only
    assert metrics["n_followed"] == 226
    assert 0.55 < metrics["c_index"] < 0.85
    assert metrics["c_index_ci_low"] < metrics["c_index"] < metrics["c_index_ci_high"]
    risks = read_tsv(tmp_path / "predictions.tsv")
    assert len(risks) == 226
    assert risks["note"].str.startswith("Research use only").all()


def test_outcome_within_chosen_groups(reference_study, tmp_path, capsys):
    manifest, features = reference_study
    args = ["predict-outcome", "--features", str(features / "sfc.tsv"), "--manifest"]
    args += [str(manifest), "--target", "remission", "--groups", "TRD,nTRD", "--repeats", "1"]
    assert main([*args, "--out", str(tmp_path), "--quiet"]) == 0, capsys.readouterr().err
    predictions = read_tsv(tmp_path / "predictions.tsv")
    groups = read_tsv(manifest).set_index("participant_id")["group"]
    assert set(groups.loc[predictions["participant_id"]]) == {"TRD", "nTRD"}


def test_across_groups_the_group_only_model_is_reported_beside(reference_study, tmp_path):
    """Remission across TRD and nTRD is mostly the group (nTRD remit by definition): the
    group-only model must reach a high AUC and be reported beside the imaging model."""
    manifest, features = reference_study
    args = ["predict-outcome", "--features", str(features / "sfc.tsv"), "--manifest"]
    args += [str(manifest), "--target", "remission", "--repeats", "1", "--quiet"]
    assert main([*args, "--groups", "TRD,nTRD", "--out", str(tmp_path / "both")]) == 0
    both = json.loads((tmp_path / "both" / "metrics.json").read_text())
    rates = both["outcome_rate_by_group"]
    assert rates["nTRD"] > rates["TRD"] + 0.3
    assert both["group_only_auc"] > 0.7 and 0 <= both["delong_vs_group_only_p"] <= 1
    assert both["population"] == ["TRD", "nTRD"]
    assert main([*args, "--groups", "nTRD", "--out", str(tmp_path / "one")]) == 0
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    assert one["group_only_auc"] is None and one["population"] == ["nTRD"]
    # the population must be stated: one line naming the option, exit 2
    assert main([*args, "--out", str(tmp_path / "none")]) == 2
