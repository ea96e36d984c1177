"""One declaration per step: the command line, the study file, its schema and its
documentation are generated from the settings models, and the three ways of running an
analysis (verbs, study file, Python API) give byte-identical tables."""

import json
from pathlib import Path
from typing import get_args

import nibabel as nib
import pytest

from sfckit.cli import build_parser, main
from sfckit.declarations.settings import (
    BenchmarkSettings,
    ClassifySettings,
    CorrelateSettings,
    ExtractSettings,
    StatsSettings,
)
from sfckit.steps import classify, correlate, extract, stats
from sfckit.steps.base import Execution
from sfckit.steps.registry import all_steps
from sfckit.study import study_model

EXECUTION_OPTIONS = {"--jobs", "--quiet", "--scheduler", "--help"}
DOCS = Path(__file__).resolve().parents[3] / "docs" / "STUDY_FILE.md"


def verb_parsers():
    action = next(a for a in build_parser()._actions if a.dest == "verb")
    return action.choices


def section_properties(schema: dict, section: str) -> set[str]:
    """The keys a study-file section accepts, following the schema's references."""
    definitions = schema["$defs"]

    def walk(node):
        if "$ref" in node:
            return walk(definitions[node["$ref"].split("/")[-1]])
        if "properties" in node:
            return set(node["properties"])
        for key in ("anyOf", "oneOf"):
            for option in node.get(key, []):
                found = walk(option)
                if found:
                    return found
        if "items" in node:
            return walk(node["items"])
        return set()

    return walk(schema["properties"][section])


@pytest.mark.parametrize(
    "verb", ["extract", "stats", "correlate", "classify", "benchmark", "predict-outcome"]
)
def test_every_analysis_option_of_a_verb_is_a_key_of_its_section(verb):
    step = all_steps()[verb]
    paths = {option.flag for option in (*step.inputs, step.output)}
    options = {
        flag
        for action in verb_parsers()[verb]._actions
        for flag in action.option_strings
        if flag.startswith("--")
    }
    analysis = options - paths - EXECUTION_OPTIONS
    keys = section_properties(study_model().model_json_schema(), step.section)
    flags = {f"--{key.replace('_', '-')}" for key in keys}
    # a switch that is on by default also has its --no- spelling, for the same key
    negations = {f"--no-{flag[2:]}" for flag in flags} & analysis
    assert flags == analysis - negations
    assert len(analysis) >= 4


def test_help_shows_defaults_bounds_and_choices(capsys):
    with pytest.raises(SystemExit):
        main(["classify", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "outer folds (>= 2) [default: 5]" in text
    assert "{svm,logistic,xgboost}" in text
    assert "[default: 2000]" in text  # n_bootstrap, one value for every learning step


def test_choices_of_the_settings_are_those_the_code_accepts():
    from sfckit.features.denoise import STRATEGIES
    from sfckit.learn.harmonize import UNSEEN_SITE_POLICIES
    from sfckit.learn.models import MODELS

    assert get_args(BenchmarkSettings.model_fields["unseen_site"].annotation) == (
        UNSEEN_SITE_POLICIES
    )
    assert get_args(ExtractSettings.model_fields["denoise"].annotation) == STRATEGIES
    assert get_args(ClassifySettings.model_fields["model"].annotation) == tuple(MODELS)


def test_the_study_file_documentation_is_generated_from_the_settings():
    from sfckit.docs import study_file_markdown

    assert DOCS.read_text() == study_file_markdown(), (
        "docs/STUDY_FILE.md is stale: run python -m sfckit.docs > docs/STUDY_FILE.md"
    )


def test_a_bad_value_names_the_option_on_the_command_line(capsys):
    assert main(["simulate", "--out", "x", "--n-trd", "-3", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sfckit: error: invalid --n-trd: Input should be greater than or")
    assert "\n" not in err and "fix: correct --n-trd" in err


TABLE_STUDY = """
manifest: {manifest}
atlases: [{{name: blocks, image: {atlas}, labels: {labels}}}]
steps: [extract, stats, correlate, classify]
defaults: {{positive: TRD, negative: nTRD, covariates: [age]}}
extract: {{min_voxels: 8}}
stats: {{groups: [TRD, nTRD, HC]}}
correlate: {{scores: [bsi], within: [TRD, nTRD]}}
classify: [{{model: logistic, outer: 3, repeats: 1, inner: 3, permutations: 2, seed: 5}}]
"""


def tables_of(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*.tsv"))
        if ".sfckit-cache" not in p.parts
    }


@pytest.mark.slow
def test_verbs_study_file_and_python_api_give_identical_tables(tiny_cohort, tmp_path):
    manifest, atlas = tiny_cohort
    nib.save(atlas.image, tmp_path / "atlas.nii.gz")
    atlas.labels.to_csv(tmp_path / "atlas.tsv", sep="\t", index=False)
    atlas_inputs = {"atlas": tmp_path / "atlas.nii.gz", "atlas_labels": tmp_path / "atlas.tsv"}

    # 1. the study file
    study = tmp_path / "study.yaml"
    study.write_text(
        TABLE_STUDY.format(
            manifest=manifest, atlas=atlas_inputs["atlas"], labels=atlas_inputs["atlas_labels"]
        )
    )
    assert main(["run", str(study), "--out", str(tmp_path / "study"), "--quiet"]) == 0

    # 2. the verbs
    verbs = tmp_path / "verbs"
    features = verbs / "features" / "blocks" / "sfc.tsv"
    common = ["--manifest", str(manifest), "--quiet"]
    atlas_args = ["--atlas", str(atlas_inputs["atlas"]), "--atlas-labels"]
    atlas_args.append(str(atlas_inputs["atlas_labels"]))
    learn = ["--features", str(features), *common]
    for args in (
        ["extract", *common, *atlas_args, "--min-voxels", "8"],
        ["stats", *learn, "--groups", "TRD,nTRD,HC", "--covariates", "age"],
        ["correlate", *learn, "--scores", "bsi", "--within", "TRD,nTRD", "--covariates", "age"],
        [
            "classify",
            *learn,
            *("--positive", "TRD", "--negative", "nTRD", "--model", "logistic"),
            *("--outer", "3", "--repeats", "1", "--inner", "3", "--permutations", "2"),
            *("--seed", "5"),
        ],
    ):
        out = {
            "extract": verbs / "features" / "blocks",
            "stats": verbs / "stats" / "blocks",
            "correlate": verbs / "correlations",
            "classify": verbs / "classify" / "logistic",
        }[args[0]]
        assert main([*args, "--out", str(out)]) == 0, args

    # 3. the Python API
    api = tmp_path / "api"
    inputs = {"manifest": manifest, "features": api / "features" / "blocks" / "sfc.tsv"}
    serial = Execution()
    extract.run(
        {**inputs, **atlas_inputs},
        api / "features" / "blocks",
        ExtractSettings(min_voxels=8),
        serial,
    )
    stats.run(
        inputs,
        api / "stats" / "blocks",
        StatsSettings(groups=("TRD", "nTRD", "HC"), covariates=("age",)),
        serial,
    )
    correlate.run(
        inputs,
        api / "correlations",
        CorrelateSettings(scores=("bsi",), within=("TRD", "nTRD"), covariates=("age",)),
        serial,
    )
    classify.run(
        inputs,
        api / "classify" / "logistic",
        ClassifySettings(
            positive="TRD",
            negative="nTRD",
            model="logistic",
            outer=3,
            repeats=1,
            inner=3,
            permutations=2,
            seed=5,
        ),
        serial,
    )

    from_study, from_verbs, from_api = (tables_of(f) for f in (tmp_path / "study", verbs, api))
    assert len(from_study) >= 14 and "classify/logistic/predictions.tsv" in from_study
    assert from_study == from_verbs == from_api
    metrics = [
        json.loads((folder / "classify" / "logistic" / "metrics.json").read_text())
        for folder in (tmp_path / "study", verbs, api)
    ]
    assert metrics[0] == metrics[1] == metrics[2]


def test_every_declared_name_has_one_implementation_of_its_kind():
    from sfckit.declarations import names
    from sfckit.features.methods import METHODS
    from sfckit.learn.models import MODELS

    assert {name: method.kind for name, method in METHODS.items()} == names.SFC_METHODS
    assert tuple(MODELS) == names.MODELS
