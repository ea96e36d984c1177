"""The command line: verbs, exit codes, one-line errors, no half-written outputs."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from sfckit.cli import main
from sfckit.io.tables import read_tsv


@pytest.fixture
def cohort(tiny_cohort, tmp_path):
    """A 6-participant copy of the tiny cohort plus its block atlas on disk, to mutate."""
    manifest, atlas = tiny_cohort
    table = read_tsv(manifest).iloc[:6]
    for pid in table["participant_id"]:
        shutil.copytree(manifest.parent / pid, tmp_path / pid)
    table.to_csv(tmp_path / "manifest.tsv", sep="\t", index=False)
    nib.save(atlas.image, tmp_path / "atlas.nii.gz")
    atlas.labels.to_csv(tmp_path / "atlas.tsv", sep="\t", index=False)
    return tmp_path


def extract_args(folder: Path, manifest: str = "manifest.tsv", *extra: str) -> list[str]:
    return [
        "extract",
        "--manifest",
        str(folder / manifest),
        "--out",
        str(folder / "out"),
        "--atlas",
        str(folder / "atlas.nii.gz"),
        "--atlas-labels",
        str(folder / "atlas.tsv"),
        "--quiet",
        *extra,
    ]


def expect_user_error(capsys, args, *fragments):
    status = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("sfckit: error:")]
    assert status == 2
    assert len(errors) == 1, err
    assert "Traceback" not in "\n".join(err)
    for fragment in fragments:
        assert fragment in errors[0]
    return errors[0]


def test_extract_succeeds(cohort, capsys):
    assert main(extract_args(cohort)) == 0
    assert "sfc.tsv" in capsys.readouterr().out
    assert len(read_tsv(cohort / "out" / "sfc.tsv")) == 6


def first_image(folder: Path, column: str) -> Path:
    return folder / read_tsv(folder / "manifest.tsv").loc[0, column]


def save_like(path: Path, data) -> None:
    reference = nib.load(path)
    nib.save(nib.Nifti1Image(np.asarray(data, np.float32), reference.affine), path)


@pytest.mark.parametrize(
    ("mutation", "fragments"),
    [
        ("missing", ["does not exist", "column 'gmv'"]),
        ("zero", ["all zeros"]),
        ("nan", ["only NaN"]),
        ("four_d", ["4-D time series", "expected a 3-D map"]),
        ("other_space", ["different grid"]),
        ("corrupt", ["cannot be read"]),
    ],
)
def test_bad_images_fail_cleanly(cohort, capsys, mutation, fragments):
    path = first_image(cohort, "gmv")
    shape = nib.load(path).shape
    if mutation == "missing":
        path.unlink()
    elif mutation == "zero":
        save_like(path, np.zeros(shape))
    elif mutation == "nan":
        save_like(path, np.full(shape, np.nan))
    elif mutation == "four_d":
        save_like(path, np.ones((*shape, 3)))
    elif mutation == "other_space":
        nib.save(nib.Nifti1Image(np.ones(shape, np.float32), np.diag([2.0, 2.0, 2.0, 1.0])), path)
    elif mutation == "corrupt":
        path.write_bytes(path.read_bytes()[:200])
    line = expect_user_error(capsys, extract_args(cohort), *fragments)
    assert path.name in line
    assert not (cohort / "out" / "sfc.tsv").exists()


def test_bold_where_alff_map_expected_and_short_bold(cohort, capsys):
    table = read_tsv(cohort / "manifest.tsv")
    alff = cohort / table.loc[0, "alff"]
    shape = nib.load(alff).shape
    bold = cohort / "short_bold.nii.gz"
    nib.save(
        nib.Nifti1Image(
            np.random.default_rng(0).normal(size=(*shape, 20)).astype(np.float32),
            nib.load(alff).affine,
        ),
        bold,
    )
    save_like(alff, np.ones((*shape, 20)))
    expect_user_error(capsys, extract_args(cohort), "alff", "4-D time series")
    table = table.drop(columns="alff")
    table["bold"] = "short_bold.nii.gz"
    table["tr"] = 2.0
    table.to_csv(cohort / "bold.tsv", sep="\t", index=False)
    expect_user_error(
        capsys,
        extract_args(cohort, "bold.tsv"),
        "short_bold.nii.gz",
        "too short",
        "at least 50 volumes",
    )
    assert not (cohort / "out" / "sfc.tsv").exists()


@pytest.mark.parametrize(
    ("edit", "fragments"),
    [
        (lambda t: t.assign(participant_id=["a", "a", "b", "c", "d", "e"]), ["duplicate"]),
        (lambda t: t.drop(columns="gmv"), ["missing required column", "'gmv'"]),
        (lambda t: t.iloc[:0], ["no participants"]),
    ],
)
def test_bad_manifests_fail_cleanly(cohort, capsys, edit, fragments):
    edit(read_tsv(cohort / "manifest.tsv")).to_csv(cohort / "bad.tsv", sep="\t", index=False)
    expect_user_error(capsys, extract_args(cohort, "bad.tsv"), "bad.tsv", *fragments)
    assert not (cohort / "out").exists() or not (cohort / "out" / "sfc.tsv").exists()


def test_empty_manifest_and_unknown_atlas(cohort, capsys):
    (cohort / "empty.tsv").write_text("")
    expect_user_error(capsys, extract_args(cohort, "empty.tsv"), "empty.tsv", "empty")
    args = extract_args(cohort)
    args[args.index("--atlas") + 1] = "brainnetome"
    expect_user_error(capsys, args, "unknown atlas 'brainnetome'", "fix:")


def test_console_script_exits_2_without_traceback(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sfckit.cli",
            "extract",
            "--manifest",
            str(tmp_path / "no.tsv"),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "no.tsv" in result.stderr


def test_simulate_verb_writes_manifest_and_truth(tmp_path, capsys):
    status = main(
        [
            "simulate",
            "--out",
            str(tmp_path / "sim"),
            "--n-trd",
            "2",
            "--n-ntrd",
            "2",
            "--n-hc",
            "1",
            "--resolution",
            "8",
            "--quiet",
        ]
    )
    assert status == 0
    assert (tmp_path / "sim" / "manifest.tsv").is_file()
    assert (tmp_path / "sim" / "truth.json").is_file()
    assert len(read_tsv(tmp_path / "sim" / "manifest.tsv")) == 5


def test_new_verbs_reject_bad_input_without_writing(tiny_study, tmp_path, capsys):
    """Errors of searchlight, map statistics, ComBat and survival options: one line, exit 2,
    and nothing written."""
    study, results, _ = tiny_study
    manifest = Path(json.loads((results / "study.json").read_text())["manifest"])
    features = results / "features" / "blocks" / "sfc.tsv"
    maps = results / "features" / "searchlight" / "maps.tsv"
    out = tmp_path / "out"
    stats = ["stats", "--manifest", str(manifest), "--out", str(out)]
    expect_user_error(
        capsys, [*stats, "--features", str(features), "--maps", str(maps)], "exactly one of"
    )
    expect_user_error(
        capsys, [*stats, "--maps", str(maps), "--permutations", "5"], "cannot reach p < 0.05"
    )
    partial = tmp_path / "maps.tsv"
    read_tsv(maps).iloc[:3].to_csv(partial, sep="\t", index=False)
    expect_user_error(capsys, [*stats, "--maps", str(partial)], "no map for 21 participant(s)")
    expect_user_error(
        capsys,
        extract_args(tmp_path, str(manifest), "--method", "searchlight", "--radius", "-1"),
        "invalid --radius: Input should be greater than 0",
    )
    learn = ["--features", str(features), "--manifest", str(manifest), "--out", str(out)]
    expect_user_error(
        capsys,
        [
            "benchmark",
            *learn,
            "--positive",
            "TRD",
            "--negative",
            "nTRD",
            "--clinical",
            "age",
            "--site-column",
            "site",
            "--validation",
            "leave-site-out",
            "--harmonize",
            "combat",
        ],
        "--unseen-site is 'error'",
        "--unseen-site reference",
    )
    expect_user_error(
        capsys,
        [
            "predict-outcome",
            *learn,
            *("--target", "time-to-relapse", "--groups", "TRD,nTRD"),
            *("--event-column", "relapse"),
        ],
        "outcome column 'relapse' does not exist",
    )
    assert not out.exists() or not any(out.iterdir())


def test_output_into_a_closed_pipe_ends_quietly(tmp_path, capsys, monkeypatch):
    import os
    import sys

    class ClosedPipe:  # what stdout is once the reader (e.g. head -1) has gone
        def __init__(self, fd: int):
            self.fd = fd

        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self) -> int:
            return self.fd

    fd = os.open(tmp_path / "stdout", os.O_WRONLY | os.O_CREAT)
    monkeypatch.setattr(sys, "stdout", ClosedPipe(fd))
    assert main(["run", "--print-schema"]) == 141
    os.close(fd)
    assert capsys.readouterr().err == ""


def test_the_command_line_starts_without_the_scientific_libraries():
    # what makes `sfckit --help` fast: building every verb's parser imports no heavy library
    # (step declarations name their report sections lazily)
    import subprocess
    import sys

    code = (
        "import sys; from sfckit.cli import build_parser; build_parser(); "
        "print(','.join(m for m in ('pandas', 'matplotlib', 'sklearn', 'scipy', 'nibabel', "
        "'numpy') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


@pytest.mark.parametrize(
    "arguments", [["run", "--print-schema"], ["--help"], ["extract", "--help"]]
)
def test_output_into_a_real_closed_pipe_ends_quietly(arguments):
    """`sfckit ... | head -1` for real: the reader has gone (its end of a real pipe is
    closed) before sfckit writes; no BrokenPipeError traceback, nothing on stderr."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "sfckit", *arguments],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.stderr == ""
    assert done.returncode in (0, 141)  # argparse's help ignores the closed pipe itself


def test_a_shell_pipe_into_head_keeps_the_first_line_and_no_traceback():
    shell = shutil.which("sh")
    if shell is None:
        pytest.skip("no POSIX shell")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [shell, "-c", f"'{sys.executable}' -m sfckit run --print-schema | head -1"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
        check=False,
    )
    assert done.stdout.strip() == "{"
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr


# A new user's typos: each message names the mistake, suggests the nearest spelling and the
# verb's own help, with one "sfckit: error:" prefix, before any complaint about what is missing.


def typo_error(capsys, args) -> str:
    line = expect_user_error(capsys, args)
    assert line.count("sfckit: error:") == 1 and "error: sfckit" not in line, line
    return line


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (
            ["extract", "--manfest", "m.tsv", "--out", "o"],
            ["extract: unknown option --manfest", "did you mean --manifest?", "extract --help"],
        ),
        (
            ["extract", "--manfest=m.tsv", "--out", "o"],
            ["unknown option --manfest", "did you mean --manifest?"],
        ),
        (
            ["stats", "--features", "f.tsv", "--manifest", "m.tsv", "--out", "o"]
            + ["--covarites", "age"],
            ["stats: unknown option --covarites", "did you mean --covariates?", "stats --help"],
        ),
        (["--verison"], ["unknown option --verison", "did you mean --version?"]),
        (["extrct"], ["unknown verb 'extrct'", "did you mean 'sfckit extract'?"]),
        (["predict_outcome"], ["did you mean 'sfckit predict-outcome'?"]),
        (
            ["classify", "--features", "f", "--manifest", "m", "--out", "o", "--model", "svn"],
            ["classify: invalid --model 'svn'", "did you mean 'svm'?", "logistic"],
        ),
        (
            ["extract", "m.tsv", "--manifest", "m.tsv", "--out", "o"],
            ["extract: unexpected argument 'm.tsv'", "'sfckit extract --help'"],
        ),
        ([], ["no verb given", "sfckit demo"]),
    ],
)
def test_typos_are_named_with_the_nearest_spelling(capsys, args, fragments):
    line = typo_error(capsys, args)
    for fragment in fragments:
        assert fragment in line, line
    assert "required" not in line  # the typo first, not what it left missing


def test_a_missing_option_points_to_the_verbs_own_help(capsys):
    line = typo_error(capsys, ["extract", "--out", "o"])
    assert "extract: the following arguments are required: --manifest" in line
    assert "'sfckit extract --help'" in line


def test_every_verb_has_a_description_and_an_example_that_parses(capsys):
    from sfckit.cli import build_parser

    parser = build_parser()
    verbs = next(a for a in parser._actions if a.dest == "verb").choices
    assert {"run", "demo", "bids", "extract", "stats", "classify"} <= set(verbs)
    for name, sub in verbs.items():
        assert sub.description and len(sub.description) > 30, name
        assert not sub.description.startswith("sfckit"), sub.description
        assert sub.epilog and sub.epilog.startswith("example"), name
        examples = [line.strip() for line in sub.epilog.splitlines()[1:] if line.strip()]
        for example in examples:
            words = example.split()
            assert words[:2] == ["sfckit", name], example
            parsed = build_parser().parse_args(words[1:])  # every option exists, none missing
            assert parsed.verb == name
        help_text = sub.format_help()
        assert "example" in help_text and examples[0] in help_text


def test_a_check_of_several_options_names_them(capsys, tmp_path):
    line = typo_error(
        capsys,
        ["subtypes", "--features", "f", "--manifest", "m", "--out", str(tmp_path / "o")]
        + ["--groups", "TRD,nTRD", "--k-min", "5", "--k-max", "3"],
    )
    assert "invalid --k-min and --k-max: k_max (3) is below k_min (5)" in line
    assert "correct --k-min and --k-max (see 'sfckit subtypes --help')" in line
    line = typo_error(
        capsys,
        ["simulate", "--out", str(tmp_path / "s"), "--n-trd", "0", "--n-ntrd", "0"]
        + [
            "--n-hc",
            "0",
        ],
    )
    assert "invalid --n-trd, --n-ntrd and --n-hc: the cohort would be empty" in line
    assert "invalid options" not in line


def test_bids_names_a_missing_input_folder_and_a_mistyped_level(capsys, tmp_path):
    missing = tmp_path / "MISSING_DIR"
    line = typo_error(capsys, ["bids", str(missing), str(tmp_path / "out"), "participant"])
    assert f"{missing}: the folder does not exist" in line and "FMRIPREP_DIR" in line
    assert "participants table" not in line
    line = typo_error(capsys, ["bids", str(missing), str(tmp_path / "out"), "participants"])
    assert "did you mean 'participant'?" in line
    assert not (tmp_path / "out").exists()


def test_the_study_file_reference_comes_with_the_package(tmp_path):
    """`sfckit run --keys` prints docs/STUDY_FILE.md from the installed package (run here
    from a folder with no docs/), and the example on it is a valid study."""
    import re

    import yaml

    from sfckit.docs import study_file_markdown
    from sfckit.study import load_study

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "sfckit", "run", "--keys"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(root)},
        check=True,
    )
    assert done.stdout == study_file_markdown() == (root / "docs" / "STUDY_FILE.md").read_text()
    assert "`sfckit run --keys` prints this page" in done.stdout
    example = re.search(r"```yaml\n(.*?)```", done.stdout, re.S).group(1)
    (tmp_path / "study.yaml").write_text(example)
    study = load_study(tmp_path / "study.yaml")
    assert yaml.safe_load(example)["stats"]["groups"] == list(study.one("stats").groups)
    assert [run.model for run in study.settings["classify"]] == ["svm", "logistic"]


def test_study_file_errors_point_to_the_reference_the_package_has(tmp_path, capsys):
    (tmp_path / "study.yaml").write_text("manifest: m.tsv\nstats: {covarites: [age]}\n")
    line = expect_user_error(capsys, ["run", str(tmp_path / "study.yaml")])
    assert "did you mean 'covariates'?" in line and "sfckit run --keys" in line
    assert "docs/" not in line
    (tmp_path / "list.yaml").write_text("- manifest: m.tsv\n")
    line = expect_user_error(capsys, ["run", str(tmp_path / "list.yaml")])
    assert "sfckit run --keys" in line and "docs/" not in line


def test_provenance_names_the_command_main_was_given_not_the_test_runner(tmp_path):
    import shlex

    arguments = ["simulate", "--out", str(tmp_path / "s i m"), "--n-trd", "2", "--n-ntrd", "2",
                 "--n-hc", "1", "--resolution", "8", "--quiet"]  # fmt: skip
    assert main(arguments) == 0
    description = json.loads((tmp_path / "s i m" / "dataset_description.json").read_text())
    command = description["GeneratedBy"][0]["Command"]
    assert shlex.split(command) == ["sfckit", *arguments]
    from sfckit.io.outputs import command_line

    assert command_line() != command  # outside main: the process's own command line again
