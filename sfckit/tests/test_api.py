"""The Python API gives the command line's numbers, writes nothing unless asked, and its
public names are the documented ones."""

from __future__ import annotations

import gc
import inspect
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import nibabel as nib
import pandas as pd
import pytest

import sfckit
import sfckit.api
from sfckit.api import step_functions
from sfckit.cli import main
from sfckit.errors import SparseRegionWarning, UserError
from sfckit.io.tables import read_tsv


def test_all_lists_exactly_the_generated_api():
    generated = {"Result", "SFCExtractor", "__version__", "results_folder", "run_step"}
    generated |= {"run_study"}
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
    # real types, in the signature and in the numpydoc section the reference renders
    assert signature.parameters["model"].annotation == fields["model"].annotation
    assert signature.parameters["outer"].annotation is int
    assert signature.return_annotation is sfckit.Result
    assert "model : {'svm', 'logistic', 'xgboost'}, default 'svm'" in sfckit.classify.__doc__
    assert "outer : int, default 5" in sfckit.classify.__doc__
    assert " : setting" not in "".join(f.__doc__ for f in step_functions().values())


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


def test_paths_a_result_hands_out_outlive_the_result(tiny_cohort, tmp_path):
    manifest, _ = tiny_cohort
    image, labels = block_atlas_files(tiny_cohort, tmp_path)
    result = sfckit.extract(manifest=manifest, atlas=str(image), atlas_labels=str(labels))
    folder, table = result.folder, result.path("sfc.tsv")
    assert folder.parent == sfckit.results_folder() and not folder.is_relative_to(tmp_path)
    del result
    gc.collect()
    assert table.is_file()  # not removed with the object: the session owns the folder
    stats = sfckit.group_stats(features=table, manifest=manifest, groups=("TRD", "nTRD", "HC"))
    assert set(stats["group_stats"]["region"]) == set(read_tsv(table).columns[1:])
    stats.close()  # on request, now
    assert not stats.folder.exists()
    with pytest.raises(KeyError, match="wrote no 'nothing.tsv'; it wrote: .*sfc.tsv"):
        sfckit.extract(
            manifest=manifest, atlas=str(image), atlas_labels=str(labels), out=tmp_path / "k"
        ).path("nothing.tsv")


def test_the_results_folder_is_removed_when_the_process_exits():
    code = "import sfckit.api as api; f = api.results_folder(); (f / 'x').write_text('1'); print(f)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    folder = Path(out.stdout.strip())
    assert folder.name.startswith("sfckit-results-") and not folder.exists(), out.stderr


def test_out_keeps_its_meaning_and_a_rerun_resumes(tiny_cohort, tmp_path):
    manifest, _ = tiny_cohort
    image, labels = block_atlas_files(tiny_cohort, tmp_path)
    arguments = {"manifest": manifest, "atlas": str(image), "atlas_labels": str(labels)}
    first = sfckit.extract(**arguments, out=tmp_path / "f")
    assert first.folder == tmp_path / "f" and (tmp_path / "f" / "sfc.tsv").is_file()
    first.close()  # a result with out keeps its files
    assert (tmp_path / "f" / "sfc.tsv").is_file()
    entries = sorted((tmp_path / "f" / ".sfckit-cache").rglob("*"))
    stamps = {p: p.stat().st_mtime_ns for p in entries if p.is_file()}
    assert len(stamps) >= 24
    second = sfckit.extract(**arguments, out=tmp_path / "f")
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # every participant reused
    pd.testing.assert_frame_equal(second["sfc"], read_tsv(tmp_path / "f" / "sfc.tsv"))


def test_returned_tables_go_back_in_and_user_tables_resolve_from_the_cwd(
    tiny_cohort, tmp_path, monkeypatch
):
    manifest, _ = tiny_cohort
    image, labels = block_atlas_files(tiny_cohort, tmp_path)
    atlas = {"atlas": str(image), "atlas_labels": str(labels)}
    cohort = sfckit.simulate_cohort(n_trd=3, n_ntrd=3, n_hc=3, resolution=8.0, seed=5)
    table = cohort["manifest"]
    assert all(Path(p).is_absolute() for p in table["gmv"])
    assert table.attrs["sfckit_source"] == str(cohort.path("manifest.tsv"))
    del cohort
    gc.collect()
    features = sfckit.extract(manifest=table, **atlas)  # unchanged: passed as its file
    assert features["sfc"]["participant_id"].tolist() == table["participant_id"].tolist()
    patients = table[table["group"] != "HC"]  # changed: written with its absolute paths
    stats = sfckit.group_stats(
        features=features["sfc"].iloc[:6], manifest=patients, groups=("TRD", "nTRD")
    )
    assert len(stats["group_stats"]) > 0
    own = read_tsv(manifest)  # the user's table, relative paths as written in the file
    assert not Path(own["gmv"][0]).is_absolute()
    monkeypatch.chdir(Path(manifest).parent)
    assert len(sfckit.extract(manifest=own, **atlas)["sfc"]) == 24
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / own["gmv"][0]))):
        sfckit.extract(manifest=own, **atlas)


def test_a_short_repr_and_an_html_one(tiny_cohort, tmp_path):
    manifest, _ = tiny_cohort
    image, labels = block_atlas_files(tiny_cohort, tmp_path)
    result = sfckit.extract(manifest=manifest, atlas=str(image), atlas_labels=str(labels))
    text = repr(result)
    assert text.startswith(f"<sfckit.Result extract: {result.folder}")
    assert "sfc (24 x " in text and len(text.splitlines()) <= 10
    assert result.summary[0] in text
    page = result._repr_html_()
    assert page.count("<tr>") == 1 + len(result.tables) and "<code>sfc</code>" in page
    result.close()
    assert repr(result).endswith("(closed)>")


def test_bad_arguments_raise_python_errors_naming_the_argument(tiny_cohort, tmp_path, capsys):
    manifest, _ = tiny_cohort
    with pytest.raises(TypeError, match="unknown argument.*featurs.*it takes .*features"):
        sfckit.classify(featurs="x.tsv", manifest=manifest, positive="TRD", negative="nTRD")
    features = tmp_path / "missing.tsv"
    arguments = {"positive": "TRD", "negative": "nTRD"}
    with pytest.raises(FileNotFoundError) as raised:
        sfckit.classify(features=features, manifest=manifest, **arguments)
    assert isinstance(raised.value, UserError) and "--" not in str(raised.value)
    with pytest.raises(ValueError, match=r"classify\(\): model='svn' is invalid") as raised:
        sfckit.classify(features=features, manifest=manifest, model="svn", **arguments)
    assert "correct model= (see help(sfckit.classify))" in str(raised.value)
    assert "--model" not in str(raised.value)
    command = ["classify", "--features", str(features), "--manifest", str(manifest)]
    command += ["--positive", "TRD", "--negative", "nTRD", "--out", str(tmp_path / "c")]
    assert main(command) == 2  # the command line: its flags, one line, status 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sfckit: error: ") and len(err.splitlines()) == 1
    assert main([*command, "--model", "svn"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--model" in err and len(err.splitlines()) == 1


def test_warnings_point_at_the_callers_line(tiny_cohort, tmp_path):
    manifest, _ = tiny_cohort
    image, labels = block_atlas_files(tiny_cohort, tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sfckit.extract(manifest=manifest, atlas=str(image), atlas_labels=str(labels),
                       min_voxels=10_000)  # fmt: skip
    sparse = [w for w in caught if issubclass(w.category, SparseRegionWarning)]
    assert sparse and all(w.filename == __file__ for w in caught), [str(w) for w in caught]
    assert "min_voxels=" in str(sparse[0].message) and "--min-voxels" not in str(sparse[0].message)


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


def test_provenance_names_the_python_call():
    cohort = sfckit.simulate_cohort(n_trd=2, n_ntrd=2, n_hc=1, resolution=8.0)
    description = json.loads((cohort.folder / "dataset_description.json").read_text())
    assert description["GeneratedBy"][0]["Command"] == (
        "sfckit.simulate_cohort(n_trd=2, n_ntrd=2, n_hc=1, resolution=8.0)"
    )


def test_a_wrong_jobs_type_and_a_misspelled_argument_name_themselves(tiny_cohort):
    manifest, _ = tiny_cohort
    with pytest.raises(TypeError, match=r"extract\(\): jobs='2' is not a whole number"):
        sfckit.extract(manifest=manifest, jobs="2")
    with pytest.raises(TypeError, match=r"unknown argument\(s\) negativ; did you mean negative=\?"):
        sfckit.classify(features=manifest, manifest=manifest, negativ="nTRD")


def test_a_closed_result_says_so():
    cohort = sfckit.simulate_cohort(n_trd=2, n_ntrd=2, n_hc=1, resolution=8.0)
    cohort.close()
    with pytest.raises(KeyError, match="was closed"):
        cohort["manifest"]
    with pytest.raises(KeyError, match="was closed"):
        cohort.path("manifest.tsv")
