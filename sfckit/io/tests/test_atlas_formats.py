"""Atlases as they are distributed: each format, written here in its distributed shape (not
converted), gives `extract` the same regional tables as the same atlas as an index/name TSV;
the format is recorded in provenance, and a malformed table is one line naming file and row."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from sfckit.cli import main
from sfckit.errors import UserError
from sfckit.io.atlases import load_atlas, max_probability_labels, read_label_table
from sfckit.io.images import Grid
from sfckit.io.tables import read_tsv
from sfckit.simulate.atlas import block_atlas

SHAPE = (17, 15, 6)  # small and non-cubic, so that axis mix-ups show
AFFINE = np.diag([3.0, 3.0, 3.0, 1.0])
AFFINE[:3, 3] = [-24, -21, -9]
NAMES = ["A8m_L", "A8m_R", "A9l_L", "rHipp_R", "7Networks_LH_Vis_1"]
COLOURS = [(120, 18, 131), (70, 130, 180), (0, 118, 14), (196, 58, 250), (220, 248, 164)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A block atlas as label image + index/name TSV, and a small cohort of GM/ALFF maps."""
    root = tmp_path_factory.mktemp("atlas-formats")
    atlas = block_atlas(Grid(SHAPE, AFFINE), NAMES, block=4)
    labels = np.asarray(atlas.image.dataobj).astype(np.int16)
    nib.save(nib.Nifti1Image(labels, AFFINE), root / "atlas.nii.gz")
    atlas.labels.to_csv(root / "atlas.tsv", sep="\t", index=False)
    rng = np.random.default_rng(3)
    rows = []
    for number in range(1, 5):
        gm = rng.uniform(0.3, 0.9, SHAPE).astype(np.float32)
        alff = (1 + gm * rng.uniform(0.5, 2) + rng.normal(0, 0.2, SHAPE)).astype(np.float32)
        nib.save(nib.Nifti1Image(gm, AFFINE), root / f"sub-{number}_gm.nii.gz")
        nib.save(nib.Nifti1Image(alff, AFFINE), root / f"sub-{number}_alff.nii.gz")
        rows.append(
            {
                "participant_id": f"sub-{number}",
                "group": "AB"[number % 2],
                "gmv": f"sub-{number}_gm.nii.gz",
                "alff": f"sub-{number}_alff.nii.gz",
            }
        )
    pd.DataFrame(rows).to_csv(root / "manifest.tsv", sep="\t", index=False)
    tables = extract(
        root, root / "reference", ["--atlas", str(root / "atlas.nii.gz")], root / "atlas.tsv"
    )
    return {"root": root, "labels": labels, "tables": tables}


def extract(root: Path, out: Path, atlas: list[str], labels: Path | None = None) -> dict:
    arguments = ["extract", "--manifest", str(root / "manifest.tsv"), *atlas]
    if labels is not None:
        arguments += ["--atlas-labels", str(labels)]
    assert main([*arguments, "--min-voxels", "3", "--quiet", "--out", str(out)]) == 0
    description = json.loads((out / "dataset_description.json").read_text())
    return {
        **{kind: read_tsv(out / f"{kind}.tsv") for kind in ("sfc", "gmv", "alff")},
        "atlas": description["GeneratedBy"][0]["Atlas"],
    }


def same_tables(result: dict, reference: dict) -> None:
    for kind in ("sfc", "gmv", "alff"):
        pd.testing.assert_frame_equal(result[kind], reference["tables"][kind])
    assert list(result["sfc"].columns[1:]) == NAMES
    assert result["sfc"][NAMES].notna().all().all()


def write_freesurfer_lut(path: Path) -> Path:
    """Brainnetome's BN_Atlas_246_LUT.txt shape: a comment header, 0 Unknown, aligned columns."""
    lines = ["#No. Label Name:                            R   G   B   A", ""]
    lines.append(f"{0:<4}{'Unknown':<40}{0:>4}{0:>4}{0:>4}{0:>4}")
    for index, (name, rgb) in enumerate(zip(NAMES, COLOURS, strict=True), start=1):
        lines.append(f"{index:<4}{name:<40}" + "".join(f"{c:>4}" for c in rgb) + f"{0:>4}")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_schaefer_order(path: Path) -> Path:
    """Schaefer 2018 *_order.txt: index, name, R, G, B, 0, tab-separated, no header."""
    rows = [
        f"{index}\t{name}\t{r}\t{g}\t{b}\t0"
        for index, (name, (r, g, b)) in enumerate(zip(NAMES, COLOURS, strict=True), start=1)
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


def write_fsleyes_lut(path: Path) -> Path:
    """Schaefer 2018 fsleyes_lut/*.lut: index, R, G, B in 0-1, name."""
    rows = [
        f"{index} " + " ".join(f"{c / 255:.5g}" for c in rgb) + f" {name}"
        for index, (name, rgb) in enumerate(zip(NAMES, COLOURS, strict=True), start=1)
    ]
    path.write_text("\n".join(rows))  # no final newline, as distributed
    return path


def write_order_info(path: Path) -> Path:
    """Schaefer 2018 *_order_info.txt: the name, then index R G B A, per region."""
    rows = []
    for index, (name, rgb) in enumerate(zip(NAMES, COLOURS, strict=True), start=1):
        rows += [name, f"{index} {rgb[0]} {rgb[1]} {rgb[2]} 0"]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize(
    ("writer", "file_name", "kind"),
    [
        (write_freesurfer_lut, "BN_Atlas_246_LUT.txt", "freesurfer-lut"),
        (write_schaefer_order, "Schaefer2018_5Parcels_7Networks_order.txt", "freesurfer-lut"),
        (write_fsleyes_lut, "Schaefer2018_5Parcels_7Networks_order.lut", "fsleyes-lut"),
        (write_order_info, "Schaefer2018_5Parcels_7Networks_order_info.txt", "schaefer-order-info"),
    ],
)
def test_look_up_tables_give_the_tsv_atlas_tables(reference, tmp_path, writer, file_name, kind):
    root = reference["root"]
    table = writer(tmp_path / file_name)
    labels, detected = read_label_table(table)
    assert detected == kind
    assert labels["name"].tolist() == NAMES and labels["index"].tolist() == [1, 2, 3, 4, 5]
    result = extract(root, tmp_path / "out", ["--atlas", str(root / "atlas.nii.gz")], table)
    same_tables(result, reference)
    assert result["atlas"]["format"] == kind and file_name in result["atlas"]["source"]
    assert reference["tables"]["atlas"]["format"] == "tsv"


def fsl_tree(root: Path, reference: dict, kind: str) -> Path:
    """An FSL atlas folder as $FSLDIR/data/atlases has it: Blocks.xml naming images by
    '/Blocks/...' without suffix, a coarse (listed first) and a finer resolution."""
    labels = reference["labels"]
    folder = root / "Blocks"
    folder.mkdir(parents=True)
    fine_affine = AFFINE.copy()
    fine_affine[:3, :3] /= 3
    fine_affine[:3, 3] -= 1.0  # fine voxel 3i+1 sits on the centre of coarse voxel i
    fine_labels = np.repeat(np.repeat(np.repeat(labels, 3, 0), 3, 1), 3, 2)
    images = []
    for resolution, data, affine in (("3mm", labels, AFFINE), ("1mm", fine_labels, fine_affine)):
        if kind == "Label":
            image = data.astype(np.int16)
        else:  # one volume per region, percent: the region's own 70, a neighbour's 30
            image = np.zeros((*data.shape, len(NAMES)), np.uint8)
            for k in range(len(NAMES)):
                image[..., k][data == k + 1] = 70
                image[..., (k + 1) % len(NAMES)][data == k + 1] = 30
            image[..., 0][data == 0] = 20  # below the 25 % threshold: background
        stem = f"Blocks-{'prob' if kind != 'Label' else 'labels'}-{resolution}"
        nib.save(nib.Nifti1Image(image, affine), folder / f"{stem}.nii.gz")
        images.append(
            f"<images><imagefile>/Blocks/{stem}</imagefile>"
            f"<summaryimagefile>/Blocks/{stem}</summaryimagefile></images>"
        )
    offset = 0 if kind == "Label" else 1  # probabilistic: index = volume, label = index + 1
    entries = "\n".join(
        f'    <label index="{i + 1 - offset}" x="10" y="12" z="3">{name}</label>'
        for i, name in enumerate(NAMES)
    )
    xml = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n<atlas version="1.0">\n<header>\n'
        f"  <name>Blocks test atlas</name>\n  <shortname>BTA</shortname>\n  <type>{kind}</type>\n"
        + "\n".join(f"  {line}" for line in images)
        + f"\n</header>\n<data>\n{entries}\n</data>\n</atlas>\n"
    )
    (root / "Blocks.xml").write_text(xml, encoding="latin-1")
    return root / "Blocks.xml"


@pytest.mark.parametrize("kind", ["Label", "Probabalistic"])  # FSL's own spelling occurs
def test_fsl_xml_atlases_give_the_tsv_atlas_tables(reference, tmp_path, kind, monkeypatch):
    monkeypatch.setenv("SFCKIT_CACHE_DIR", str(tmp_path / "cache"))
    xml = fsl_tree(tmp_path / "atlases", reference, kind)
    result = extract(reference["root"], tmp_path / "out", ["--atlas", str(xml)])
    same_tables(result, reference)
    expected = "fsl-xml-label" if kind == "Label" else "fsl-xml-probabilistic"
    assert result["atlas"]["format"] == expected
    assert "1mm" in result["atlas"]["source"]  # the finer of the two resolutions
    if kind != "Label":
        assert ">= 25%" in result["atlas"]["source"]
        assert list((tmp_path / "cache").glob("maxprob-*-thr25.nii.gz"))  # derived once, cached


def test_max_probability_labels_are_the_thresholded_argmax():
    rng = np.random.default_rng(0)
    probabilities = rng.uniform(0, 0.3, (5, 4, 3, 6))
    labels = max_probability_labels(probabilities, 0.25)
    for index in np.ndindex(5, 4, 3):
        values = probabilities[index]
        expected = values.argmax() + 1 if values.max() >= 0.25 else 0
        assert labels[index] == expected
    assert (labels == 0).any() and (labels > 0).any()


def templateflow_folder(
    root: Path, reference: dict, atlases: tuple[str, ...] = ("Blocks",)
) -> Path:
    """A TemplateFlow template folder: res-01 (finer) and res-02 images, one _dseg.tsv."""
    folder = root / "tpl-MNI152NLin2009cAsym"
    folder.mkdir(parents=True)
    labels = reference["labels"]
    fine_affine = AFFINE.copy()
    fine_affine[:3, :3] /= 3
    fine_affine[:3, 3] -= 1.0
    fine = np.repeat(np.repeat(np.repeat(labels, 3, 0), 3, 1), 3, 2)
    for atlas in atlases:
        stem = f"tpl-MNI152NLin2009cAsym_{{}}atlas-{atlas}_desc-5Parcels_dseg"
        nib.save(nib.Nifti1Image(fine, fine_affine), folder / (stem.format("res-01_") + ".nii.gz"))
        nib.save(nib.Nifti1Image(labels, AFFINE), folder / (stem.format("res-02_") + ".nii.gz"))
        table = pd.DataFrame(
            {
                "index": range(1, len(NAMES) + 1),
                "name": NAMES,
                "color": [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in COLOURS],
            }
        )
        table.to_csv(folder / (stem.format("") + ".tsv"), sep="\t", index=False)
    return folder


def test_templateflow_folder_gives_the_tsv_atlas_tables(reference, tmp_path):
    folder = templateflow_folder(tmp_path, reference)
    result = extract(reference["root"], tmp_path / "out", ["--atlas", str(folder)])
    same_tables(result, reference)
    assert result["atlas"]["format"] == "templateflow" and "res-01" in result["atlas"]["source"]
    assert result["atlas"]["name"] == "Blocks_5Parcels"
    chosen = folder / "tpl-MNI152NLin2009cAsym_res-02_atlas-Blocks_desc-5Parcels_dseg.nii.gz"
    atlas = load_atlas(str(chosen))  # one image of the folder, its table found beside it
    assert atlas.region_names == NAMES and "res-02" in atlas.source


def test_templateflow_folder_with_several_atlases_asks_for_one(reference, tmp_path, capsys):
    folder = templateflow_folder(tmp_path, reference, atlases=("Blocks", "Other"))
    arguments = ["extract", "--manifest", str(reference["root"] / "manifest.tsv")]
    arguments += ["--atlas", str(folder), "--out", str(tmp_path / "out"), "--quiet"]
    assert main(arguments) == 2
    err = capsys.readouterr().err.strip()
    assert "2 atlases in the folder" in err and "atlas-Other_desc-5Parcels" in err
    assert err.count("\n") == 0 and "--atlas " in err


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("#No. Label Name: R G B A\n0 Unknown 0 0 0 0\n1 A8m_L 1 2 3 0\n2 A8m_R 1 2\n", "row 4"),
        ("1\tA8m_L\t1\t2\t3\t0\n2\tA8m_L\t4\t5\t6\t0\n", "row 2: duplicate name 'A8m_L'"),
        ("1\tA8m_L\t1\t2\t3\t0\n1\tA8m_R\t4\t5\t6\t0\n", "row 2: duplicate index '1'"),
        ("1 0.1 0.2 0.3 A8m_L\n2 0.1 x 0.3 A8m_R\n", "row 2: malformed FSLeyes"),
        ("A8m_L\n1 1 2 3 0\nA8m_R\n2 1 2\n", "row 4: malformed Schaefer"),
        ("%BeginInstance\n<<\n/PseudoColormap [\n<-color{0.4,0.05,0.5}->\n]\n", "without region"),
        ("1;A8m_L\n", "row 1: unrecognised atlas label table line"),
    ],
    ids=[
        "freesurfer",
        "duplicate-name",
        "duplicate-index",
        "fsleyes",
        "order-info",
        "mricron",
        "unknown",
    ],
)
def test_a_malformed_table_is_one_line_naming_file_and_row(
    reference, tmp_path, capsys, content, fragment
):
    table = tmp_path / "BN_Atlas_246_LUT.txt"
    table.write_text(content)
    with pytest.raises(UserError, match=fragment):
        read_label_table(table)
    arguments = ["extract", "--manifest", str(reference["root"] / "manifest.tsv")]
    arguments += ["--atlas", str(reference["root"] / "atlas.nii.gz"), "--atlas-labels", str(table)]
    assert main([*arguments, "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert str(table) in err and fragment in err and err.count("\n") == 0


def test_a_malformed_fsl_xml_names_the_line(reference, tmp_path):
    xml = fsl_tree(tmp_path, reference, "Label")
    text = xml.read_text(encoding="latin-1").replace('index="3"', 'index="three"')
    xml.write_text(text, encoding="latin-1")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if 'index="three"' in row)
    with pytest.raises(UserError, match=rf"Blocks.xml, row {line}: <label index='three'>"):
        load_atlas(str(xml))
    xml.write_text(text.replace("</data>", ""), encoding="latin-1")
    with pytest.raises(UserError, match=r"Blocks.xml, row \d+: the FSL atlas XML cannot be parsed"):
        load_atlas(str(xml))
    with pytest.raises(UserError, match="names its own labels"):
        load_atlas(str(xml), reference["root"] / "atlas.tsv")


def test_study_file_atlases_take_the_distributed_shapes(reference, tmp_path):
    from sfckit.steps.plan import Planner
    from sfckit.study import check_study, load_study

    root = reference["root"]
    lut = write_freesurfer_lut(tmp_path / "BN_Atlas_246_LUT.txt")
    xml = fsl_tree(tmp_path / "fsl", reference, "Label")
    folder = templateflow_folder(tmp_path / "tf", reference)
    study = tmp_path / "study.yaml"
    study.write_text(
        f"manifest: {root / 'manifest.tsv'}\natlases:\n"
        f"  - {{name: brainnetome, image: {root / 'atlas.nii.gz'}, labels: {lut.name}}}\n"
        f"  - {{name: blocks-fsl, image: fsl/{xml.name}}}\n"
        f"  - {{name: blocks-tf, image: tf/{folder.name}}}\n"
    )
    loaded = load_study(study)
    check_study(loaded)  # a folder and an XML are accepted as images
    inputs = [Planner.atlas_inputs(spec) for spec in loaded.atlases()]
    atlases = [load_atlas(i["atlas"], i["atlas_labels"]) for i in inputs]
    assert [a.format for a in atlases] == ["freesurfer-lut", "fsl-xml-label", "templateflow"]
    assert all(a.region_names == NAMES for a in atlases)


def test_a_read_only_cache_derives_the_probabilistic_atlas_in_memory(
    reference, tmp_path, monkeypatch
):
    from sfckit.io import atlases

    monkeypatch.setenv("SFCKIT_CACHE_DIR", str(tmp_path / "cache"))

    def refuse(image, path):
        raise PermissionError(13, "read-only", str(path))

    monkeypatch.setattr(atlases, "save_nifti", refuse)  # a container's read-only cache
    xml = fsl_tree(tmp_path / "atlases", reference, "Probabilistic")
    atlas = load_atlas(str(xml))
    assert not list((tmp_path / "cache").glob("*"))
    on_grid = atlas.labels_on(Grid(SHAPE, AFFINE))
    np.testing.assert_array_equal(on_grid, reference["labels"])
