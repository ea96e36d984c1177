"""The Python API gives the command line's numbers, writes nothing unless asked, and its
public names are the documented ones."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import pandas as pd
import pytest

import sfckit
from sfckit.api import step_functions
from sfckit.cli import main
from sfckit.errors import UserError
from sfckit.io.tables import read_tsv


def test_all_lists_exactly_the_generated_api():
    generated = {"Result", "SFCExtractor", "__version__", "run_step", "run_study"}
    generated |= set(step_functions())
    assert sorted(sfckit.__all__) == sorted(generated)
    for name in sfckit.__all__:
        value = getattr(sfckit, name)
        if name != "__version__":
            assert value.__doc__ and "Examples" in value.__doc__, name
    assert isinstance(sfckit.__version__, str)
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        sfckit.nonsense  # noqa: B018


def test_importing_sfckit_imports_no_library():
    code = "import sys, sfckit; print(sorted(m for m in ('pandas', 'numpy') if m in sys.modules))"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "[]", out.stderr


def test_functions_carry_the_step_settings_with_their_defaults():
    from sfckit.steps.registry import all_steps

    signature = inspect.signature(sfckit.classify)
    fields = all_steps()["classify"].settings.model_fields
    for name, field in fields.items():
        parameter = signature.parameters[name]
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
        if not field.is_required():
            assert parameter.default == field.default, name
    assert signature.parameters["positive"].default is inspect.Parameter.empty
    assert {"features", "manifest", "out", "jobs"} <= set(signature.parameters)
    assert "--band" not in sfckit.extract.__doc__ and "band :" in sfckit.extract.__doc__


def block_atlas_files(tiny_cohort, folder: Path) -> tuple[Path, Path]:
    _, atlas = tiny_cohort
    nib.save(atlas.image, folder / "atlas.nii.gz")
    atlas.labels.to_csv(folder / "atlas.tsv", sep="\t", index=False)
    return folder / "atlas.nii.gz", folder / "atlas.tsv"


def assert_same_tables(api_tables: dict[str, pd.DataFrame], folder: Path, names) -> None:
    for name in names:
        cli_table = read_tsv(folder / f"{name}.tsv")
        pd.testing.assert_frame_equal(api_tables[name], cli_table, check_exact=True, obj=name)


def test_the_api_gives_the_command_lines_tables(tiny_cohort, tmp_path, monkeypatch):
    manifest, _ = tiny_cohort
    image, labels = block_atlas_files(tiny_cohort, tmp_path)
    monkeypatch.chdir(tmp_path)
    atlas = ["--atlas", str(image), "--atlas-labels", str(labels)]
    cli = tmp_path / "cli"
    assert main(["extract", "--manifest", str(manifest), *atlas, "--out", str(cli / "f")]) == 0
    features = sfckit.extract(manifest=manifest, atlas=str(image), atlas_labels=str(labels))
    assert_same_tables(features.tables, cli / "f", ["sfc", "gmv", "alff", "regions"])

    stats_options = ["--covariates", "age", "--groups", "TRD,nTRD,HC"]
    command = ["stats", "--features", str(cli / "f" / "sfc.tsv"), "--manifest", str(manifest)]
    assert main([*command, *stats_options, "--out", str(cli / "s"), "--quiet"]) == 0
    stats = sfckit.group_stats(
        features=features.path("sfc.tsv"),
        manifest=manifest,
        covariates=["age"],
        groups=("TRD", "nTRD", "HC"),
    )
    assert_same_tables(stats.tables, cli / "s", ["group_stats", "posthoc", "specificity"])

    classify_options = ["--positive", "TRD", "--negative", "nTRD", "--model", "logistic"]
    classify_options += ["--outer", "3", "--repeats", "1", "--inner", "3"]
    classify_options += ["--permutations", "0", "--n-bootstrap", "50", "--no-importance"]
    command = ["classify", "--features", str(cli / "f" / "sfc.tsv"), "--manifest", str(manifest)]
    assert main([*command, *classify_options, "--out", str(cli / "c"), "--quiet"]) == 0
    table = read_tsv(manifest)  # a DataFrame is accepted where the CLI takes a TSV
    table[["gmv", "alff"]] = table[["gmv", "alff"]].map(lambda p: str(Path(manifest).parent / p))
    classified = sfckit.classify(
        features=features["sfc"],
        manifest=table,
        positive="TRD",
        negative="nTRD",
        model="logistic",
        outer=3,
        repeats=1,
        inner=3,
        permutations=0,
        n_bootstrap=50,
        importance=False,
    )
    assert_same_tables(classified.tables, cli / "c", ["predictions", "roc"])
    assert classified["metrics"] == json.loads((cli / "c" / "metrics.json").read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["atlas.nii.gz", "atlas.tsv", "cli"]


def test_results_live_in_a_temporary_folder_unless_out_is_given(tiny_cohort, tmp_path):
    manifest, _ = tiny_cohort
    image, labels = block_atlas_files(tiny_cohort, tmp_path)
    result = sfckit.extract(manifest=manifest, atlas=str(image), atlas_labels=str(labels))
    folder = result.folder
    assert (folder / "sfc.tsv").is_file() and not folder.is_relative_to(tmp_path)
    result.close()
    assert not folder.exists()
    kept = sfckit.extract(
        manifest=manifest, atlas=str(image), atlas_labels=str(labels), out=tmp_path / "kept"
    )
    kept.close()
    assert (tmp_path / "kept" / "sfc.tsv").is_file()
    with pytest.raises(KeyError, match="wrote no 'nothing.tsv'; it wrote: .*sfc.tsv"):
        kept.path("nothing.tsv")


def test_bad_arguments_raise_what_the_command_line_prints(tiny_cohort, tmp_path, capsys):
    manifest, _ = tiny_cohort
    with pytest.raises(TypeError, match="unknown argument.*featurs.*it takes .*features"):
        sfckit.classify(featurs="x.tsv", manifest=manifest, positive="TRD", negative="nTRD")
    features = tmp_path / "missing.tsv"
    arguments = {"positive": "TRD", "negative": "nTRD"}
    with pytest.raises(UserError) as raised:
        sfckit.classify(features=features, manifest=manifest, **arguments)
    command = ["classify", "--features", str(features), "--manifest", str(manifest)]
    command += ["--positive", "TRD", "--negative", "nTRD", "--out", str(tmp_path / "c")]
    assert main(command) == 2
    assert f"sfckit: error: {raised.value}" == capsys.readouterr().err.strip()


def test_the_docstring_examples_run():
    import doctest

    import sfckit.api
    import sfckit.features.extractor

    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    tests = [*finder.find(sfckit.api), *finder.find(sfckit.features.extractor)]
    for name in sfckit.__all__:
        value = getattr(sfckit, name)
        if callable(value) and value.__module__ == "sfckit":  # generated per verb
            tests += finder.find(value, name, globs={})
    examples = 0
    for test in tests:
        examples += len(test.examples)
        runner.run(test)
    assert examples > 20
    assert runner.failures == 0


def test_the_api_reference_page_documents_every_public_name():
    """api.rst by hand, plus the step functions it includes from the registry."""
    from sfckit.docs import api_steps_rst

    page = Path(__file__).resolve().parents[2] / "docs" / "api.rst"
    if not page.is_file():
        pytest.skip("docs/ is not beside the package (installed without the repository)")
    text = page.read_text()
    assert ".. include:: api_steps.rst" in text
    documented = set(
        re.findall(
            r"^\.\. auto(?:function|class):: sfckit\.(?:api\.)?(\w+)",
            text + api_steps_rst(),
            re.M,
        )
    )
    assert documented == set(sfckit.__all__) - {"__version__"}


def test_a_new_step_is_public_without_an_edit(monkeypatch):
    """__all__ and the API reference come from the registry: a toy verb appears in both."""
    import dataclasses

    import sfckit.api
    from sfckit.docs import api_steps_rst

    steps = sfckit.api.all_steps()
    toy = dataclasses.replace(steps["score"], name="toy-verb")
    monkeypatch.setattr(sfckit.api, "all_steps", lambda: {**steps, "toy-verb": toy})
    monkeypatch.delitem(vars(sfckit), "__all__", raising=False)  # restored afterwards
    assert "toy_verb" in sfckit.__all__ and "toy_verb" in dir(sfckit)
    assert ".. autofunction:: sfckit.toy_verb" in api_steps_rst()
