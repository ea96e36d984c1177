"""Hostile input for the newer verbs (treatment-rule, subtypes, tms-target, normative, score,
predict-outcome): each case exits with status 2 and one line, no traceback, and leaves an
earlier output folder byte-identical."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from sfckit.cli import main
from sfckit.declarations.settings import SimulationSettings
from sfckit.simulate.cohort import simulate_cohort


@pytest.fixture(scope="module")
def inputs(tiny_study, tmp_path_factory):
    _, results, _ = tiny_study
    folder = tmp_path_factory.mktemp("hostile")
    manifest = Path(json.loads((results / "study.json").read_text())["manifest"])
    features = results / "features" / "blocks" / "sfc.tsv"
    model = folder / "model.skops"
    train = ["train", "--features", str(features), "--manifest", str(manifest), "--quiet"]
    train += ["--positive", "TRD", "--negative", "nTRD", "--model", "logistic", "--inner", "3"]
    assert main([*train, "--save", str(model)]) == 0
    bold = simulate_cohort(
        folder / "bold",
        SimulationSettings(
            seed=3,
            n_trd=2,
            n_ntrd=1,
            n_hc=1,
            kind="bold",
            resolution=4.0,
            n_volumes=60,
            assignment="none",
        ),
        jobs=1,
        progress=False,
    )
    return {"manifest": manifest, "features": features, "model": model, "bold": bold}


IMAGE_COLUMNS = ("gmv", "alff", "bold", "confounds")


def edited(path: Path, name: str, edit, folder: Path) -> str:
    """A hostile copy of a manifest or table, written into ``folder`` (never beside the
    shared fixtures, which other tests read); image paths are made absolute."""
    table = pd.read_csv(path, sep="\t", na_values=["n/a"])
    for column in IMAGE_COLUMNS:
        if column in table.columns:
            table[column] = [
                str(path.parent / value) if isinstance(value, str) else value
                for value in table[column]
            ]
    edit(table)
    provenance = path.with_name("dataset_description.json")  # features carry theirs
    if provenance.is_file():
        shutil.copy(provenance, folder / provenance.name)
    target = folder / f"hostile_{name}.tsv"
    table.to_csv(target, sep="\t", index=False, na_rep="n/a")
    return str(target)


def three_d(table: pd.DataFrame, folder: Path) -> None:
    run = nib.load(table.loc[0, "bold"])
    nib.save(nib.Nifti1Image(np.asarray(run.dataobj)[..., 0], run.affine), folder / "3d.nii.gz")
    table.loc[0, "bold"] = str(folder / "3d.nii.gz")


def one_treatment(table: pd.DataFrame) -> None:
    table["next_treatment"] = table["next_treatment"].where(table["next_treatment"].isna(), "ect")


def outcome_times_two(table: pd.DataFrame) -> None:
    table["remitted"] = table["remitted"] * 2


def rename_a_region(table: pd.DataFrame) -> None:
    table.rename(columns={table.columns[1]: "Elsewhere"}, inplace=True)


def negative_times(table: pd.DataFrame) -> None:
    table["relapse_months"] = -table["relapse_months"]


def cases(given: dict, out: Path) -> dict[str, tuple[list[str], str]]:
    work = out.parent
    manifest, features, model, bold = (given[k] for k in ("manifest", "features", "model", "bold"))
    other_grid = out.parent / "other_grid.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((5, 6, 7), np.uint8), np.eye(4)), other_grid)
    truncated = out.parent / "truncated.skops"
    truncated.write_bytes(model.read_bytes()[:500])
    crafted = out.parent / "crafted.skops"
    crafted.write_bytes(b"PK\x03\x04 not a model")
    rule = ["treatment-rule", "--features", str(features), "--out", str(out), "--quiet"]
    one_arm = edited(manifest, "one_arm", one_treatment, work)
    score = ["score", "--model", str(model), "--out", str(out / "scores.tsv")]
    tms = ["tms-target", "--out", str(out), "--quiet"]
    outcome = ["predict-outcome", "--features", str(features), "--out", str(out), "--quiet"]
    return {
        "outcome not 0/1": (
            [
                *rule,
                "--manifest",
                edited(manifest, "outcome", outcome_times_two, work),
            ],
            "expected 0 (not remitted) or 1",
        ),
        "one treatment arm": ([*rule, "--manifest", one_arm], "one treatment only"),
        "missing reference arm": (
            [*rule, "--manifest", str(manifest), "--reference", "psychotherapy"],
            "reference treatment 'psychotherapy'",
        ),
        "text in a clinical column": (
            [
                *rule,
                "--manifest",
                edited(manifest, "text", lambda t: t.__setitem__("hamd", "severe"), work),
            ],
            "not numeric",
        ),
        "k-min > k-max": (
            [
                "subtypes",
                "--features",
                str(features),
                "--manifest",
                str(manifest),
                "--out",
                str(out),
                "--groups",
                "TRD,nTRD",
                "--k-min",
                "5",
                "--k-max",
                "3",
            ],
            "k_max (3) is below k_min (5)",
        ),
        "a 3-D image as BOLD": (
            [*tms, "--manifest", edited(bold, "3d", lambda t: three_d(t, work), work)],
            "expected a 4-D time series",
        ),
        "a mask on another grid": (
            [*tms, "--manifest", str(bold), "--search-mask", str(other_grid)],
            "not on the BOLD grid",
        ),
        "a seed outside the image": (
            [*tms, "--manifest", str(bold), "--seed-coordinate", "500", "500", "500"],
            "has no voxel in the run's field of view",
        ),
        "no controls": (
            [
                "normative",
                "--features",
                str(features),
                "--manifest",
                str(manifest),
                "--out",
                str(out),
                "--controls",
                "Healthy",
            ],
            "0 'Healthy' control(s)",
        ),
        "two controls": (
            [
                "normative",
                "--features",
                str(features),
                "--manifest",
                str(manifest),
                "--out",
                str(out),
                "--controls",
                "HC,nTRD",
            ],
            "--controls",
        ),
        "--coverage 1.5": (
            [*score, "--features", str(features), "--coverage", "1.5"],
            "--coverage",
        ),
        "a model from another feature set": (
            [
                *score,
                "--features",
                edited(features, "features", rename_a_region, work),
            ],
            "the model's",
        ),
        "a truncated model file": (
            [
                "score",
                "--model",
                str(truncated),
                "--features",
                str(features),
                "--out",
                str(out / "s.tsv"),
            ],
            "not an sfckit model",
        ),
        "a crafted model file": (
            [
                "score",
                "--model",
                str(crafted),
                "--features",
                str(features),
                "--out",
                str(out / "s.tsv"),
            ],
            "not an sfckit model",
        ),
        "negative relapse times": (
            [
                *outcome,
                "--manifest",
                edited(manifest, "negative", negative_times, work),
                "--target",
                "time-to-relapse",
                "--groups",
                "TRD,nTRD",
            ],
            "expected a follow-up time > 0",
        ),
    }


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_every_hostile_case_is_one_line_exit_2_and_changes_nothing(inputs, tmp_path, capsys):
    out = tmp_path / "earlier"
    out.mkdir()
    (out / "results.tsv").write_text("an earlier run's output\n")
    before = snapshot(out)
    failures = []
    for name, (arguments, fragment) in cases(inputs, out).items():
        capsys.readouterr()
        status = main(arguments)
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.strip()]
        if status != 2 or len(lines) != 1 or fragment not in err or "Traceback" in err:
            failures.append(f"{name}: exit {status}, {len(lines)} lines: {err[:300]!r}")
        if snapshot(out) != before or sorted(p.name for p in out.iterdir()) != ["results.tsv"]:
            failures.append(f"{name}: the earlier output folder changed")
    assert not failures, "\n".join(failures)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A cohort of 6 + 6 + 6 on an 8 mm block atlas with a strong planted group effect, so
    that regions reach FDR significance and the report draws its per-region figures (whose
    captions and tick labels carry the group names)."""
    from sfckit.simulate.atlas import block_atlas
    from sfckit.simulate.cohort import mni_grid

    folder = tmp_path_factory.mktemp("planted")
    settings = SimulationSettings(
        seed=3, n_trd=6, n_ntrd=6, n_hc=6, resolution=8.0, trd_sfc_decrease=0.5, subject_sfc_sd=0.03
    )
    atlas = block_atlas(mni_grid(settings.resolution))
    manifest = simulate_cohort(folder / "cohort", settings, atlas=atlas, progress=False)
    nib.save(atlas.image, folder / "atlas.nii.gz")
    atlas.labels.to_csv(folder / "atlas.tsv", sep="\t", index=False)
    return manifest, folder / "atlas.nii.gz", folder / "atlas.tsv"


EVIL_STUDY = """
name: evil groups
manifest: {manifest}
atlases:
  - name: blocks
    image: {atlas}
    labels: {labels}
steps: [extract, stats, report]
stats:
  groups: ['{evil}', nTRD, HC]
  permutations: 19
"""


@pytest.mark.slow  # a whole study
def test_a_group_named_like_broken_mathtext_survives_a_whole_study(planted, tmp_path, capsys):
    """The reported crash, reproduced as it happened: `sfckit run` of extract, stats and report
    with a group named `$\\evil$` (not valid mathtext) died in the report's figures
    (ParseFatalException: Unknown symbol), because matplotlib's text wrapping parses
    mathtext even where parse_math is off."""
    from sfckit.io.tables import read_tsv

    manifest, atlas, labels = planted
    evil = "$\\evil$"
    table = read_tsv(manifest)
    for column in ("gmv", "alff"):
        table[column] = [str(manifest.parent / value) for value in table[column]]
    table["group"] = table["group"].replace({"TRD": evil})
    table.to_csv(tmp_path / "manifest.tsv", sep="\t", index=False)
    study = tmp_path / "study.yaml"
    study.write_text(
        EVIL_STUDY.format(manifest=tmp_path / "manifest.tsv", atlas=atlas, labels=labels, evil=evil)
    )
    status = main(["run", str(study), "--out", str(tmp_path / "results"), "--quiet"])
    err = capsys.readouterr().err
    assert status == 0, err[-2000:]
    results = tmp_path / "results"
    stats = read_tsv(results / "stats" / "blocks" / "group_stats.tsv")
    assert (stats["p_fdr"] < 0.05).any()  # so the per-region figures (with the group) are drawn
    figures = sorted(p.name for p in (results / "figures").glob("groups-*.png"))
    assert len(figures) >= 2, figures
    html = (results / "report.html").read_text()
    assert evil in html  # written as typed


EVIL, MATH, SCRIPT = "$\\evil$", "$x^2$", "<script>alert(1)</script>"
RTL, LONG, EMOJI = "\u202eRTL\u202c\u200f", "L" * 300, "\U0001f9e0\U0001f525"
HOSTILE_GROUPS = {"TRD": f"{EVIL} {SCRIPT}", "nTRD": "{0} %s " + MATH, "HC": f"H\nC {RTL} {EMOJI}"}
HOSTILE_REGIONS = [EVIL, MATH, SCRIPT, "{0}", "%s", "two\nlines", RTL, LONG, EMOJI]
HOSTILE_SCORE, HOSTILE_COVARIATE = "bsi {0} %s " + EVIL + " <b>", "age " + MATH


def hostile_study(planted, folder: Path) -> Path:
    """The planted cohort with the hostile corpus everywhere a user's text can be: group
    names, column names (a score, a covariate), values (site, sex, a participant id), region
    names, and the names of the manifest, the atlas and every image file."""
    import yaml

    from sfckit.io.tables import read_tsv

    manifest, atlas, labels = planted
    names = read_tsv(labels)
    names["name"] = HOSTILE_REGIONS
    names.to_csv(folder / "labels.tsv", sep="\t", index=False)
    atlas_copy = folder / f"atlas {EVIL} {{0}} {EMOJI}.nii.gz"
    shutil.copy(atlas, atlas_copy)
    table = read_tsv(manifest)
    (folder / "images").mkdir()
    for i, row in table.iterrows():
        for column in ("gmv", "alff"):
            name = f"{row.participant_id} {EVIL} {{0}} %s <x> {EMOJI} {column}.nii.gz"
            shutil.copy(manifest.parent / row[column], folder / "images" / name)
            table.loc[i, column] = f"images/{name}"
    table["group"] = table["group"].map(HOSTILE_GROUPS)
    table["site"] = table["site"].map({"siteA": SCRIPT, "siteB": EVIL + " {0}"})
    table["sex"] = table["sex"].map({"F": "F " + EMOJI, "M": "M" + RTL})
    table.loc[0, "participant_id"] = "sub-<i>" + EVIL
    table = table.rename(columns={"bsi": HOSTILE_SCORE, "age": HOSTILE_COVARIATE})
    hostile_manifest = folder / f"manifest {EVIL} {{0}} %s.tsv"
    table.to_csv(hostile_manifest, sep="\t", index=False)
    study = {
        "name": f"hostile {SCRIPT} {EVIL}",
        "manifest": str(hostile_manifest),
        "atlases": [{"name": "blocks", "image": str(atlas_copy), "labels": "labels.tsv"}],
        "steps": ["extract", "stats", "correlate", "report"],
        "stats": {
            "groups": list(HOSTILE_GROUPS.values()),
            "covariates": [HOSTILE_COVARIATE],
            "permutations": 19,
        },
        "correlate": {
            "scores": [HOSTILE_SCORE],
            "within": [HOSTILE_GROUPS["TRD"], HOSTILE_GROUPS["nTRD"]],
        },
    }
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(study, allow_unicode=True))
    return path


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.text: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)

    def handle_data(self, data):
        self.text.append(data)


@pytest.mark.slow  # a whole study
def test_the_hostile_corpus_through_a_whole_study(planted, tmp_path, capsys):
    """Every text from the data is written and drawn literally: the figures are drawn, the
    HTML escapes (no tag from the data), Markdown and TSV keep the text as typed (no markup,
    no template or %-formatting evaluated); and one warning, not dozens, for the glyphs the
    figures' font lacks."""
    from sfckit.io.tables import read_tsv

    study = hostile_study(planted, tmp_path)
    results = tmp_path / "results"
    status = main(["run", str(study), "--out", str(results), "--quiet"])
    err = capsys.readouterr().err
    assert status == 0, err[-3000:]
    assert "Traceback" not in err
    warned = [line for line in err.splitlines() if line.startswith("sfckit: warning:")]
    assert len([line for line in warned if "cannot draw" in line]) == 1, warned
    groups = list(HOSTILE_GROUPS.values())

    # TSV: read back exactly as typed
    stats = read_tsv(results / "stats" / "blocks" / "group_stats.tsv")
    assert sorted(stats["region"]) == sorted(HOSTILE_REGIONS)
    assert (stats["p_fdr"] < 0.05).any()
    sfc = read_tsv(results / "features" / "blocks" / "sfc.tsv")
    assert list(sfc.columns[1:]) == HOSTILE_REGIONS
    assert "sub-<i>" + EVIL in set(sfc["participant_id"])
    contrasts = set(read_tsv(results / "stats" / "blocks" / "posthoc.tsv")["contrast"])
    assert any(groups[0] in c and groups[2] in c for c in contrasts), contrasts
    correlations = (results / "correlations" / "correlations.tsv").read_text()
    assert HOSTILE_SCORE in correlations
    for path in results.rglob("*.tsv"):
        read_tsv(path)  # every table reads back
    for path in results.rglob("*.json"):
        json.loads(path.read_text())

    # HTML: every name is text (escaped), none became markup
    raw = (results / "report.html").read_text()
    page = _Text()
    page.feed(raw)
    assert not page.tags & {"script", "b", "i", "x"}, page.tags
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in raw
    text = "".join(page.text)
    for name in [*groups, HOSTILE_SCORE, HOSTILE_COVARIATE, EVIL, MATH, SCRIPT, "{0}", "%s"]:
        assert name in text, name

    # Markdown: as typed ({0} and %s not evaluated, $...$ and <...> not changed)
    methods = (results / "methods.md").read_text()
    summary = (results / "results.md").read_text()
    for name in groups:
        assert name in methods and name in summary, name
    assert HOSTILE_SCORE in methods and HOSTILE_COVARIATE in methods

    # figures: drawn (a PNG, an SVG and the caption for each), captions as typed
    pngs = sorted((results / "figures").glob("*.png"))
    assert len(pngs) >= 2
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.with_suffix(".svg").stat().st_size > 0
    captions = {p.read_text().split(":")[0] for p in (results / "figures").glob("*.txt")}
    significant = stats.loc[stats["p_fdr"] < 0.05, "region"]
    assert set(significant.head(2)) <= captions, captions  # region names, as typed
    assert HOSTILE_COVARIATE in " ".join(p.read_text() for p in pngs[0].parent.glob("*.txt"))
