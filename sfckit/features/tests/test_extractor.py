"""SFCExtractor: the extract step's numbers inside a scikit-learn pipeline."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import estimator_checks

import sfckit
from sfckit.errors import SparseRegionWarning, UserError
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


@pytest.fixture(scope="module")
def six_mm(tmp_path_factory):
    """Harvard-Oxford on a 6 mm grid: 4 regions too small for any participant."""
    cohort = sfckit.simulate_cohort(
        n_trd=4, n_ntrd=4, n_hc=4, resolution=6.0, out=tmp_path_factory.mktemp("six")
    )
    table = cohort["manifest"]
    pairs = list(zip(table["gmv"], table["alff"], strict=True))
    return pairs, (table["group"] == "HC").to_numpy().astype(int)


def test_a_plain_pipeline_works_on_a_6mm_grid_and_says_what_it_filled(six_mm):
    pairs, labels = six_mm
    pipeline = make_pipeline(SFCExtractor(), StandardScaler(), LogisticRegression())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores = cross_val_score(pipeline, pairs, labels, cv=3, scoring="roc_auc")
    assert scores.shape == (3,) and np.all(np.isfinite(scores)), scores
    sparse = [w for w in caught if issubclass(w.category, SparseRegionWarning)]
    assert len(sparse) >= 3  # fit and score of each fold
    assert "Left_Accumbens" in str(sparse[0].message) and "fill=None" in str(sparse[0].message)
    ours = [w for w in caught if w.category.__module__.startswith("sfckit")]  # not numpy's
    assert ours and all(w.filename == __file__ for w in ours), [(w.filename, str(w)) for w in ours]


def test_fill_values_are_learnt_from_the_training_pairs_only(six_mm):
    pairs, _ = six_mm
    image = nib.load(pairs[0][0])
    data = np.asarray(image.dataobj, dtype=np.float32).copy()
    data[: data.shape[0] // 2] = 0  # no gray matter in one hemisphere of one participant
    holed = (nib.Nifti1Image(data, image.affine), pairs[0][1])
    train, test = [holed, *pairs[1:8]], [holed, *pairs[8:]]
    raw_train = SFCExtractor(fill=None).fit_transform(train)
    raw_test = SFCExtractor(fill=None).fit(train).transform(test)
    partial = np.isnan(raw_train).any(axis=0) & ~np.isnan(raw_train).all(axis=0)
    empty = np.isnan(raw_train).all(axis=0)
    assert partial.sum() > 10 and empty.sum() == 4
    expected_fill = np.where(empty, 0.0, np.nanmean(np.where(empty, 0.0, raw_train), axis=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SparseRegionWarning)
        extractor = SFCExtractor().fit(train)
        filled = extractor.transform(test)
        np.testing.assert_allclose(extractor.fill_values_, expected_fill, rtol=1e-12)
        np.testing.assert_allclose(filled, np.where(np.isnan(raw_test), expected_fill, raw_test))
        refilled = extractor.fit_transform(train)
        expected = np.where(np.isnan(raw_train), expected_fill, raw_train)
        np.testing.assert_allclose(refilled, expected)
        constant = SFCExtractor(fill=-1.5).fit(train).transform(test)
    np.testing.assert_array_equal(constant, np.where(np.isnan(raw_test), -1.5, raw_test))
    assert extractor.empty_regions_ == list(extractor.feature_names_out_[empty])
    with pytest.raises(ValueError, match="fill='median'.*expected 'mean', a number or None"):
        SFCExtractor(fill="median").fit(train)


# scikit-learn's checks (sklearn.utils.estimator_checks) for a transformer, as
# check_estimator would run them if the extractor took 2-D arrays. Three kinds:
# - APPLICABLE: they feed no data, or data the extractor must refuse; run as they are.
# - REDONE: they feed 2-D numeric arrays, but the property they test applies to image pairs;
#   test_estimator_properties_with_image_pairs checks it with image pairs.
# - NOT_APPLICABLE: the property is about numeric arrays themselves; the reason is given.
APPLICABLE = (
    "check_estimator_cloneable",
    "check_estimator_tags_renamed",
    "check_valid_tag_types",
    "check_estimator_repr",
    "check_no_attributes_set_in_init",
    "check_estimators_unfitted",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_n_features_in_after_fitting",
    "check_mixin_order",
    "check_transformers_unfitted",
    "check_transformer_n_iter",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_fit1d",
)
REDONE = (
    "check_fit_score_takes_y",
    "check_estimators_overwrite_params",
    "check_dont_overwrite_parameters",
    "check_estimators_fit_returns_self",
    "check_pipeline_consistency",
    "check_estimators_pickle",
    "check_transformer_general",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_dict_unchanged",
    "check_fit_idempotent",
    "check_fit_check_is_fitted",
    "check_n_features_in",
)
NUMERIC = "the input is (GM, ALFF) image pairs, not a numeric array"
NOT_APPLICABLE = {
    "check_readonly_memmap_input": f"read-only memory-mapped arrays: {NUMERIC}",
    "check_positive_only_tag_during_fit": f"negative array values: {NUMERIC}",
    "check_estimators_dtypes": f"float32/int input dtypes: {NUMERIC}",
    "check_complex_data": f"complex numbers: {NUMERIC}",
    "check_dtype_object": f"object arrays of numbers: {NUMERIC}",
    "check_estimators_empty_data_messages": "an empty X is refused with sfckit's own message "
    "(tested in test_unfitted_and_bad_input_are_clear), not scikit-learn's array wording",
    "check_estimators_nan_inf": f"NaN/inf in X: {NUMERIC} (NaN voxels are the images' own)",
    "check_estimator_sparse_tag": f"scipy sparse input: {NUMERIC}",
    "check_estimator_sparse_array": f"scipy sparse input: {NUMERIC}",
    "check_estimator_sparse_matrix": f"scipy sparse input: {NUMERIC}",
    "check_array_api_input": f"array-API namespaces: {NUMERIC}",
    "check_f_contiguous_array_estimator": f"Fortran-ordered arrays: {NUMERIC}",
    "check_transformer_data_not_an_array": f"array-likes of numbers: {NUMERIC}",
    "check_transformer_preserve_dtypes": "the output is always float64 SFC, whatever the "
    "images' dtype",
    "check_fit2d_1sample": f"a 1-row numeric array: {NUMERIC}",
    "check_fit2d_1feature": "every sample has exactly 2 'features' (the two images)",
    "check_fit2d_predict1d": f"1-D numeric input to transform: {NUMERIC}",
}


# the checks are listed as scikit-learn >= 1.6 yields them (its tags API); the lowest
# scikit-learn sfckit supports (1.5) has neither the tags nor this way of listing the checks
TAGS_API = hasattr(BaseEstimator, "__sklearn_tags__")
needs_tags_api = pytest.mark.skipif(
    not TAGS_API, reason="scikit-learn < 1.6 lists its estimator checks without the tags API"
)


def _checks_for_a_two_d_transformer() -> dict[str, Any]:
    class AsIfArrays(SFCExtractor):
        def __sklearn_tags__(self):
            tags = super().__sklearn_tags__()
            tags.input_tags.two_d_array = True
            return tags

    checks: dict[str, Any] = {}
    for check in estimator_checks._yield_all_checks(AsIfArrays(), legacy=True):
        checks.setdefault(getattr(check, "func", check).__name__, check)
    checks["check_estimator_cloneable"] = estimator_checks.check_estimator_cloneable
    return checks


@needs_tags_api
def test_every_estimator_check_is_run_redone_or_skipped_with_a_reason():
    assert set(_checks_for_a_two_d_transformer()) == {*APPLICABLE, *REDONE, *NOT_APPLICABLE}
    assert not set(APPLICABLE) & set(REDONE) and not set(REDONE) & set(NOT_APPLICABLE)


@needs_tags_api
@pytest.mark.parametrize("name", APPLICABLE)
def test_scikit_learn_estimator_checks_that_apply(name):
    check = _checks_for_a_two_d_transformer()[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SparseRegionWarning)
        check("SFCExtractor", SFCExtractor())


def test_estimator_properties_with_image_pairs(cohort):
    """What REDONE's checks test, with image pairs instead of numeric arrays."""
    import pickle

    from joblib import hash as joblib_hash
    from sklearn.utils.validation import check_is_fitted

    _, table, pairs, atlas_files = cohort
    X, y = pairs[:9], (table["group"] == "HC").to_numpy().astype(int)[:9]
    extractor = SFCExtractor(**atlas_files)
    before = joblib_hash(extractor.get_params())
    public_before = {k for k in vars(extractor) if not k.startswith("_")}
    assert extractor.fit(X, y) is extractor  # fit returns self and takes y
    check_is_fitted(extractor)
    assert joblib_hash(extractor.get_params()) == before  # parameters not overwritten
    added = {k for k in vars(extractor) if not k.startswith("_")} - public_before
    assert added and all(k.endswith("_") for k in added)  # only fitted attributes
    assert extractor.n_features_in_ == 2 == len(X[0])
    reference = extractor.transform(X)
    state = pickle.dumps(vars(extractor))
    again = extractor.transform(X)
    assert pickle.dumps(vars(extractor)) == state  # transform changes nothing
    np.testing.assert_array_equal(again, reference)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(extractor)).transform(X), reference)
    np.testing.assert_array_equal(clone(extractor).fit_transform(X), reference)  # general
    np.testing.assert_array_equal(extractor.fit(X).fit(X).transform(X), reference)  # idempotent
    order = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_array_equal(extractor.transform([X[i] for i in order]), reference[order])
    for start in range(0, len(X), 3):  # subsets: the same rows as the whole
        np.testing.assert_array_equal(extractor.transform(X[start : start + 3]),
                                      reference[start : start + 3])  # fmt: skip
    pipeline = make_pipeline(SFCExtractor(**atlas_files), StandardScaler())
    np.testing.assert_allclose(pipeline.fit_transform(X), clone(pipeline).fit(X).transform(X))


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


def test_a_bad_parameter_is_named_as_the_python_argument():
    with pytest.raises(ValueError, match=r"SFCExtractor\(\): method='voxel-corelation' is invalid"):
        SFCExtractor(method="voxel-corelation").fit([("gm.nii.gz", "alff.nii.gz")])
    with pytest.raises(ValueError, match=r"correct min_voxels="):
        SFCExtractor(min_voxels=-1).fit([("gm.nii.gz", "alff.nii.gz")])
