"""SFCExtractor: the extract step's numbers inside a scikit-learn pipeline."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import estimator_checks

import sfckit
from sfckit.errors import UserError
from sfckit.features.extractor import SFCExtractor
from sfckit.io.tables import read_tsv


@pytest.fixture(scope="module")
def cohort(tiny_cohort, tmp_path_factory):
    manifest, atlas = tiny_cohort
    folder = tmp_path_factory.mktemp("extractor")
    nib.save(atlas.image, folder / "atlas.nii.gz")
    atlas.labels.to_csv(folder / "atlas.tsv", sep="\t", index=False)
    table = read_tsv(manifest)
    root = Path(manifest).parent
    pairs = [(root / gm, root / alff) for gm, alff in zip(table["gmv"], table["alff"], strict=True)]
    atlas_files = {"atlas": str(folder / "atlas.nii.gz"), "atlas_labels": folder / "atlas.tsv"}
    return manifest, table, pairs, atlas_files


@pytest.mark.parametrize("method", ["voxel-correlation", "kl-similarity"])
def test_transform_equals_the_extract_table(cohort, method):
    manifest, _, pairs, atlas_files = cohort
    extractor = SFCExtractor(method=method, **atlas_files).fit(pairs)
    expected = sfckit.extract(manifest=manifest, method=method, **atlas_files)["sfc"]
    regions = list(extractor.get_feature_names_out())
    assert regions == [c for c in expected.columns if c != "participant_id"]
    np.testing.assert_allclose(extractor.transform(pairs), expected[regions].to_numpy(), atol=1e-12)


def test_images_in_memory_give_the_same_numbers(cohort):
    _, _, pairs, atlas_files = cohort
    images = [(nib.load(gm), nib.load(alff)) for gm, alff in pairs[:3]]
    extractor = SFCExtractor(**atlas_files)
    np.testing.assert_array_equal(
        extractor.fit_transform(images), extractor.fit_transform(pairs[:3])
    )


def test_it_runs_inside_a_cross_validated_pipeline(cohort):
    _, table, pairs, atlas_files = cohort
    labels = (table["group"] == "HC").to_numpy().astype(int)
    pipeline = make_pipeline(SFCExtractor(**atlas_files), StandardScaler(), LogisticRegression())
    scores = cross_val_score(pipeline, pairs, labels, cv=3, scoring="roc_auc")
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))
    fitted = clone(pipeline).set_output(transform="pandas").fit(pairs, labels)
    frame = fitted[:-1].transform(pairs[:2])
    assert list(frame.columns) == list(fitted[0].get_feature_names_out())


# scikit-learn's checks that do not feed 2-D numeric arrays (the rest cannot apply to
# image pairs: check_estimator skips them for an estimator without the two_d_array tag).
# By name: some are newer than the lowest scikit-learn sfckit supports, and skip there.
APPLICABLE_CHECKS = [
    "check_no_attributes_set_in_init",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_estimator_cloneable",
    "check_estimator_repr",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_estimator_tags_renamed",
]


@pytest.mark.parametrize("name", APPLICABLE_CHECKS)
def test_scikit_learn_estimator_checks_that_apply(name):
    check = getattr(estimator_checks, name, None)
    if check is None:
        import sklearn

        pytest.skip(f"scikit-learn {sklearn.__version__} has no {name} (newer releases do)")
    check("SFCExtractor", SFCExtractor())


def test_unfitted_and_bad_input_are_clear(cohort):
    _, _, pairs, atlas_files = cohort
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        SFCExtractor(**atlas_files).transform(pairs)
    with pytest.raises(UserError, match=r"X\[0\] is .*expected a sequence of \(GM image"):
        SFCExtractor(**atlas_files).fit([("only one image",)])
    with pytest.raises(UserError, match="X is empty"):
        SFCExtractor(**atlas_files).fit([])
    with pytest.raises(UserError, match="'profile' needs BOLD runs"):
        SFCExtractor(method="profile", **atlas_files).fit(pairs)
    with pytest.raises(UserError, match="method"):
        SFCExtractor(method="nonsense", **atlas_files).fit(pairs)
