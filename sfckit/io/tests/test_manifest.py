"""Manifest reading: the input contract and its one-line errors."""

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from sfckit.errors import UserError
from sfckit.io.manifest import read_manifest


@pytest.fixture
def images(tmp_path: Path) -> Path:
    for name in ("g1", "g2", "a1", "a2"):
        nib.save(
            nib.Nifti1Image(np.ones((3, 4, 5), np.float32), np.eye(4)), tmp_path / f"{name}.nii.gz"
        )
    return tmp_path


def write(folder: Path, text: str) -> Path:
    path = folder / "manifest.tsv"
    path.write_text(text.replace("|", "\t"))
    return path


def test_reads_relative_paths_and_carries_covariates(images):
    path = write(
        images,
        "participant_id|group|gmv|alff|age|bsi\n"
        "s1|TRD|g1.nii.gz|a1.nii.gz|30|12\ns2|HC|g2.nii.gz|a2.nii.gz|25|n/a\n",
    )
    cohort = read_manifest(path)
    assert cohort.participant_ids == ["s1", "s2"]
    assert cohort.covariate_columns == ["age", "bsi"]
    assert Path(cohort.table.loc[0, "gmv"]) == (images / "g1.nii.gz").resolve()
    assert cohort.table["functional"].tolist() == ["alff", "alff"]
    assert np.isnan(cohort.clinical().loc[1, "bsi"])


def test_absolute_paths_and_tr(images):
    path = write(
        images,
        f"participant_id|group|gmv|bold|tr\n"
        f"s1|TRD|{images / 'g1.nii.gz'}|{images / 'a1.nii.gz'}|2.5\n",
    )
    cohort = read_manifest(path)
    assert cohort.table.loc[0, "tr"] == 2.5
    assert cohort.table.loc[0, "functional"] == "bold"


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        ("", ["manifest.tsv", "empty"]),
        ("participant_id|group|gmv|alff\n", ["no participants"]),
        (
            "participant_id|gmv|alff\ns1|g1.nii.gz|a1.nii.gz\n",
            ["missing required column", "'group'"],
        ),
        ("participant_id|group|gmv\ns1|HC|g1.nii.gz\n", ["neither a 'bold' nor an 'alff' column"]),
        (
            "participant_id|group|gmv|alff\ns1|HC|g1.nii.gz|a1.nii.gz\ns1|HC|g2.nii.gz|a2.nii.gz\n",
            ["row 3", "duplicate participant_id 's1'", "line 2"],
        ),
        (
            "participant_id|group|gmv|alff\ns1|HC|missing.nii.gz|a1.nii.gz\n",
            ["row 2", "column 'gmv'", "missing.nii.gz", "does not exist"],
        ),
        (
            "participant_id|group|gmv|alff|bold\ns1|HC|g1.nii.gz|a1.nii.gz|a2.nii.gz\n",
            ["row 2", "both 'bold' and 'alff'"],
        ),
        (
            "participant_id|group|gmv|bold|tr\ns1|HC|g1.nii.gz|a1.nii.gz|fast\n",
            ["row 2", "column 'tr'", "invalid tr 'fast'", "positive number"],
        ),
        ("participant_id|group|gmv|alff\ns1||g1.nii.gz|a1.nii.gz\n", ["row 2", "empty group"]),
        (
            "participant_id|group|gmv|alff\ns1|HC|g1.nii.gz;g2.nii.gz|a1.nii.gz\n",
            ["row 2", "column 'gmv'", "several paths in 'gmv'", "only 'bold' lists several"],
        ),
        (
            "participant_id|group|gmv|bold|confounds\ns1|HC|g1.nii.gz|a1.nii.gz;a2.nii.gz|c.tsv\n",
            ["row 2", "column 'confounds'", "2 BOLD run(s) but 1 confounds file(s)"],
        ),
        (
            "participant_id|group|gmv|bold\ns1|HC|g1.nii.gz|a1.nii.gz;run2.nii.gz\n",
            ["row 2", "column 'bold'", "run2.nii.gz", "does not exist"],
        ),
    ],
)
def test_bad_manifests_give_one_line_errors(images, content, fragments):
    path = write(images, content)
    with pytest.raises(UserError) as caught:
        read_manifest(path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message
    assert "fix:" in message


def test_missing_manifest_file(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        read_manifest(tmp_path / "nope.tsv")


@pytest.mark.slow
def test_a_huge_manifest_reports_its_first_missing_file_without_visiting_the_rest(
    tmp_path, monkeypatch
):
    """100,000 rows: the missing image of row 2 is reported after checking the cheap
    things of every row (IDs, groups), not after touching 200,000 files."""
    from pathlib import Path

    from sfckit.errors import UserError
    from sfckit.io.manifest import read_manifest

    image = tmp_path / "img.nii.gz"
    image.write_bytes(b"")
    lines = ["participant_id\tgroup\tgmv\talff"]
    for i in range(100_000):
        gmv = "missing.nii.gz" if i == 1 else image.name
        lines.append(f"sub-{i}\t{'AB'[i % 2]}\t{gmv}\t{image.name}")
    manifest = tmp_path / "manifest.tsv"
    manifest.write_text("\n".join(lines) + "\n")
    visited = []
    real_is_file = Path.is_file
    monkeypatch.setattr(Path, "is_file", lambda self: visited.append(self) or real_is_file(self))
    with pytest.raises(UserError, match=r"row 3, column 'gmv': image file .*missing.nii.gz"):
        read_manifest(manifest)
    assert len(visited) <= 5
