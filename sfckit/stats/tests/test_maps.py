"""Voxel-wise maps: F equals statsmodels, a planted effect is found only where planted."""

import json
import warnings

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from statsmodels.stats.anova import anova_lm

from sfckit.cli import main
from sfckit.io.tables import read_tsv
from sfckit.stats.maps import group_f_test

SHAPE = (10, 10, 10)
AFFINE = np.diag([3.0, 3.0, 3.0, 1.0])
CUBE = (slice(2, 5), slice(2, 5), slice(2, 5))


def planted_maps(seed=0, per_group=15, effect=3.0):
    rng = np.random.default_rng(seed)
    groups = np.repeat(["TRD", "nTRD", "HC"], per_group)
    age = rng.normal(30, 6, len(groups))
    maps = rng.normal(size=(len(groups), *SHAPE)) + 0.03 * age[:, None, None, None]
    maps[np.ix_(groups == "TRD", *(np.arange(s.start, s.stop) for s in CUBE))] -= effect
    return maps, groups, age


def test_f_equals_statsmodels_with_covariates():
    maps, groups, age = planted_maps(seed=1, per_group=8)
    values = maps.reshape(len(groups), -1)[:, :40]
    result = group_f_test(values, groups, age[:, None], n_permutations=19, seed=0)
    for voxel in (0, 13, 39):
        frame = pd.DataFrame({"y": values[:, voxel], "group": groups, "age": age})
        table = anova_lm(smf.ols("y ~ C(group) + age", data=frame).fit(), typ=2)
        assert result["f"][voxel] == pytest.approx(table.loc["C(group)", "F"], rel=1e-10)
        assert result["p_uncorrected"][voxel] == pytest.approx(
            table.loc["C(group)", "PR(>F)"], rel=1e-8
        )
    assert result["df_effect"] == 2 and result["df_error"] == len(groups) - 4


def test_planted_effect_is_found_where_planted_and_nowhere_else():
    maps, groups, age = planted_maps()
    values = maps.reshape(len(groups), -1)
    result = group_f_test(values, groups, age[:, None], n_permutations=200, seed=0, jobs=2)
    significant = (result["p_fwe"] < 0.05).reshape(SHAPE)
    planted = np.zeros(SHAPE, bool)
    planted[CUBE] = True
    assert significant[planted].mean() > 0.9
    assert not significant[~planted].any()
    # null data: the max-F threshold holds the family-wise error
    null = group_f_test(
        np.random.default_rng(5).normal(size=values.shape),
        groups,
        age[:, None],
        n_permutations=200,
        seed=1,
    )
    assert (null["p_fwe"] >= 0.05).all()
    assert null["f_critical"] > np.quantile(null["f"], 0.99)


def test_stats_maps_cli_reports_labelled_clusters(tmp_path, capsys):
    maps, groups, age = planted_maps(seed=2)
    labels = np.zeros(SHAPE, np.int16)
    labels[:5, :5, :5] = 1
    labels[5:, 5:, 5:] = 2
    atlas_image = tmp_path / "atlas.nii.gz"
    nib.save(nib.Nifti1Image(labels, AFFINE), atlas_image)
    pd.DataFrame({"index": [1, 2], "name": ["Left_Block", "Right_Block"]}).to_csv(
        tmp_path / "atlas.tsv", sep="\t", index=False
    )
    (tmp_path / "maps").mkdir()
    rows, map_rows = [], []
    for i, (group, years) in enumerate(zip(groups, age, strict=True)):
        pid = f"sub-{i:02d}"
        nib.save(
            nib.Nifti1Image(maps[i].astype(np.float32), AFFINE), tmp_path / f"maps/{pid}.nii.gz"
        )
        rows.append({"participant_id": pid, "group": group, "age": years, "gmv": "x", "alff": "y"})
        map_rows.append({"participant_id": pid, "map": f"maps/{pid}.nii.gz"})
    rows[5]["age"] = None  # a missing covariate leaves this participant out, and says so
    pd.DataFrame(rows).to_csv(tmp_path / "manifest.tsv", sep="\t", index=False)
    pd.DataFrame(map_rows).to_csv(tmp_path / "maps.tsv", sep="\t", index=False)
    status = main(
        [
            "stats",
            "--maps",
            str(tmp_path / "maps.tsv"),
            "--manifest",
            str(tmp_path / "manifest.tsv"),
            "--covariates",
            "age",
            "--atlas",
            str(atlas_image),
            "--atlas-labels",
            str(tmp_path / "atlas.tsv"),
            "--permutations",
            "100",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert status == 0
    clusters = read_tsv(tmp_path / "out" / "clusters.tsv")
    assert len(clusters) == 1
    assert clusters.loc[0, "peak_region"] == "Left_Block"
    assert clusters.loc[0, "regions"] == "Left_Block (27)"
    summary = json.loads((tmp_path / "out" / "map_stats.json").read_text())
    assert summary["n_significant_voxels_fwe"] == 27
    assert summary["n_participants"] == 44 and summary["n_dropped_missing_covariates"] == 1
    counts = summary["significant_voxels_per_contrast"]
    assert counts["TRD_vs_nTRD"] > 20 and counts["TRD_vs_HC"] > 20
    # no planted nTRD-HC difference: FWE control allows a stray voxel in 5 % of datasets
    assert counts["nTRD_vs_HC"] <= 2
    t_map = np.asarray(nib.load(tmp_path / "out" / "maps" / "TRD_vs_nTRD_t.nii.gz").dataobj)
    assert (t_map[CUBE] < 0).all()
    assert "1 cluster" in capsys.readouterr().out


@pytest.mark.slow
def test_planted_searchlight_decoupling_is_found_end_to_end(tmp_path, capsys):
    """GMV-ALFF coupling removed in a cube for one group: extract + stats find only it."""
    rng = np.random.default_rng(7)
    shape, affine = (14, 14, 14), np.diag([4.0, 4.0, 4.0, 1.0])
    cube = (slice(4, 10), slice(4, 10), slice(4, 10))
    labels = np.ones(shape, np.int16)
    labels[7:] = 2
    nib.save(nib.Nifti1Image(labels, affine), tmp_path / "atlas.nii.gz")
    pd.DataFrame({"index": [1, 2], "name": ["Front", "Back"]}).to_csv(
        tmp_path / "atlas.tsv", sep="\t", index=False
    )
    rows = []
    for i, group in enumerate(np.repeat(["TRD", "nTRD", "HC"], 12)):
        gmv = rng.uniform(0.3, 0.9, shape)
        slope = np.ones(shape)
        if group == "TRD":
            slope[cube] = 0.0
        alff = 1.0 + slope * (gmv - 0.6) + rng.normal(0, 0.08, shape)
        pid = f"sub-{i:02d}"
        nib.save(nib.Nifti1Image(gmv.astype(np.float32), affine), tmp_path / f"{pid}_gmv.nii.gz")
        nib.save(nib.Nifti1Image(alff.astype(np.float32), affine), tmp_path / f"{pid}_alff.nii.gz")
        rows.append(
            {
                "participant_id": pid,
                "group": group,
                "gmv": f"{pid}_gmv.nii.gz",
                "alff": f"{pid}_alff.nii.gz",
            }
        )
    pd.DataFrame(rows).to_csv(tmp_path / "manifest.tsv", sep="\t", index=False)
    atlas = [
        "--atlas",
        str(tmp_path / "atlas.nii.gz"),
        "--atlas-labels",
        str(tmp_path / "atlas.tsv"),
    ]
    manifest = ["--manifest", str(tmp_path / "manifest.tsv")]
    assert (
        main(
            [
                "extract",
                *manifest,
                *atlas,
                "--method",
                "searchlight",
                "--radius",
                "4",
                "--min-voxels",
                "5",
                "--out",
                str(tmp_path / "features"),
                "--quiet",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "stats",
                "--maps",
                str(tmp_path / "features" / "maps.tsv"),
                *manifest,
                *atlas,
                "--permutations",
                "100",
                "--out",
                str(tmp_path / "stats"),
            ]
        )
        == 0
    )
    logp = np.asarray(nib.load(tmp_path / "stats" / "maps" / "group_logp_fwe.nii.gz").dataobj)
    significant = logp > -np.log10(0.05)
    core = np.zeros(shape, bool)
    core[5:9, 5:9, 5:9] = True  # spheres entirely inside the cube
    reach = np.zeros(shape, bool)
    reach[3:11, 3:11, 3:11] = True  # spheres that touch the cube
    assert significant[core].all()
    assert not significant[~reach].any()
    clusters = read_tsv(tmp_path / "stats" / "clusters.tsv")
    assert len(clusters) == 1 and set(clusters.loc[0, "regions"].split("; ")) == {
        f"{name} ({count})"
        for name, count in pd.Series(labels[significant])
        .map({1: "Front", 2: "Back"})
        .value_counts()
        .items()
    }
    # the report shows the map and the cluster table from these files alone
    from sfckit.steps.report import build_report

    (tmp_path / "results" / "stats").mkdir(parents=True)
    (tmp_path / "stats").rename(tmp_path / "results" / "stats" / "searchlight")
    html = build_report(tmp_path / "results").read_text()
    section = html[html.index('id="searchlight"') :]
    section = section[: section.index("</section>")]
    assert "data:image/png;base64," in section and "Front" in section


def test_voxel_blocks_give_the_same_statistics_as_one_block():
    """Bounded memory: blocks of a few voxels give the F, FWE p, t and max-t FWE of the
    whole-matrix computation to 1e-10 (the same permutations run on every block)."""
    from sfckit.stats.maps import pairwise_contrasts

    maps, groups, age = planted_maps(seed=2, per_group=10)
    values = maps.reshape(len(groups), -1)[:, :300]
    whole = group_f_test(values, groups, age[:, None], n_permutations=99, seed=3)
    tiny_blocks = 8 * len(groups) * 37  # 37 voxels per block
    blocks = group_f_test(
        values, groups, age[:, None], n_permutations=99, seed=3, jobs=2, chunk_bytes=tiny_blocks
    )
    for key in ("f", "p_uncorrected", "p_fwe", "null_max_f"):
        np.testing.assert_allclose(blocks[key], whole[key], rtol=1e-10, atol=1e-12)
    one = pairwise_contrasts(
        values, groups, age[:, None], n_permutations=99, seed=3, chunk_bytes=10**9
    )
    many = pairwise_contrasts(
        values, groups, age[:, None], n_permutations=99, seed=3, chunk_bytes=tiny_blocks
    )
    from nilearn.mass_univariate import permuted_ols

    rows = np.isin(groups, ["TRD", "nTRD"])
    reference = permuted_ols(
        (groups[rows] == "TRD").astype(float)[:, None],
        values[rows],
        confounding_vars=age[rows, None],
        model_intercept=True,
        n_perm=99,
        two_sided_test=True,
        random_state=3,
        verbose=0,
        output_type="dict",  # nilearn's default from 0.12; 0.11 gives a tuple
    )
    for pair in one:
        np.testing.assert_allclose(many[pair]["t"], one[pair]["t"], rtol=1e-10)
        np.testing.assert_allclose(many[pair]["logp_fwe"], one[pair]["logp_fwe"], rtol=1e-10)
    # and the one-block result is nilearn's own
    np.testing.assert_allclose(one[("TRD", "nTRD")]["t"], reference["t"][0], rtol=1e-10)
    np.testing.assert_allclose(
        one[("TRD", "nTRD")]["logp_fwe"], reference["logp_max_t"][0], rtol=1e-10
    )


def test_null_max_f_equals_least_squares_fits_of_each_permutation():
    """The batched max-F kernel against two lstsq fits per permutation of the residuals
    (Freedman-Lane: the reduced model's residuals permuted, both models refitted)."""
    maps, groups, age = planted_maps(seed=6, per_group=9)
    values = maps.reshape(len(groups), -1)[:, :120]
    sex = np.random.default_rng(6).integers(0, 2, len(groups)).astype(float)
    covariates = np.column_stack([age, sex])
    result = group_f_test(values, groups, covariates, n_permutations=25, seed=4)
    reduced = np.column_stack([np.ones(len(groups)), covariates])
    full = np.column_stack([reduced, groups == "nTRD", groups == "HC"]).astype(float)
    residuals = values - reduced @ np.linalg.lstsq(reduced, values, rcond=None)[0]

    def rss(design, data):
        return ((data - design @ np.linalg.lstsq(design, data, rcond=None)[0]) ** 2).sum(axis=0)

    seeds = np.random.SeedSequence(4).generate_state(25)
    expected = []
    for seed in seeds:
        permuted = residuals[np.random.default_rng(seed).permutation(len(groups))]
        reduced_rss, full_rss = rss(reduced, permuted), rss(full, permuted)
        f = ((reduced_rss - full_rss) / 2) / (full_rss / (len(groups) - full.shape[1]))
        expected.append(f.max())
    np.testing.assert_allclose(result["null_max_f"], expected, rtol=1e-9)


def test_pairwise_null_is_nilearns_whatever_the_workers():
    """The batched max-|t| permutations give nilearn's permuted_ols (n_jobs=1) t, FWE p
    and null exactly as counted, with 1 or 2 workers. A covariate constant within one pair
    (everyone of that pair at one site) drops out: the reference is nilearn without it
    (nilearn itself would take a constant column for the intercept and flip signs instead
    of permuting, even when the column is all zeros)."""
    from nilearn.mass_univariate import permuted_ols

    from sfckit.stats.maps import pairwise_contrasts

    maps, groups, age = planted_maps(seed=7, per_group=12)
    values = maps.reshape(len(groups), -1)[:, :400]
    # a second site for half the controls only: constant within TRD vs nTRD
    site = ((groups == "HC") & (np.arange(len(groups)) % 2 == 0)).astype(float)
    covariates = np.column_stack([age, site])
    one = pairwise_contrasts(values, groups, covariates, n_permutations=60, seed=5, jobs=1)
    two = pairwise_contrasts(
        values, groups, covariates, n_permutations=60, seed=5, jobs=2, chunk_bytes=8 * 24 * 150
    )
    for (first, second), result in one.items():
        rows = np.isin(groups, [first, second])
        varying = covariates[rows][:, covariates[rows].std(axis=0) > 0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # nilearn: constant columns
            reference = permuted_ols(
                (groups[rows] == first).astype(float)[:, None],
                values[rows],
                confounding_vars=varying,
                model_intercept=True,
                n_perm=60,
                two_sided_test=True,
                random_state=5,
                n_jobs=1,
                verbose=0,
                output_type="dict",  # nilearn's default from 0.12; 0.11 gives a tuple
            )
        np.testing.assert_allclose(result["t"], reference["t"][0], rtol=1e-10)
        np.testing.assert_array_equal(result["logp_fwe"], reference["logp_max_t"][0])
        np.testing.assert_array_equal(two[(first, second)]["logp_fwe"], result["logp_fwe"])
        np.testing.assert_allclose(two[(first, second)]["t"], result["t"], rtol=1e-12)


def test_maps_stream_into_a_memory_map_with_the_common_mask(tmp_path):
    from sfckit.stats.maps import load_maps

    maps, groups, _ = planted_maps(seed=4, per_group=3)
    maps[0, 0, 0, 0] = np.nan  # one participant lacks a voxel: it leaves the mask
    rows = []
    for index, volume in enumerate(maps):
        name = f"sub-{index}.nii.gz"
        nib.save(nib.Nifti1Image(volume.astype(np.float32), AFFINE), tmp_path / name)
        rows.append({"participant_id": f"sub-{index}", "map": name})
    pd.DataFrame(rows).to_csv(tmp_path / "maps.tsv", sep="\t", index=False)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    stack = load_maps(tmp_path / "maps.tsv", scratch=scratch)
    assert isinstance(stack.values, np.memmap)
    assert not stack.mask[0, 0, 0] and stack.mask.sum() == np.prod(SHAPE) - 1
    expected = maps.astype(np.float32)[:, stack.mask]
    np.testing.assert_array_equal(np.asarray(stack.values), expected)


def test_column_blocks_of_a_memory_map_are_read_without_mapping_the_file(tmp_path):
    """Positional reads give exactly the slice, at every block offset, after the npy header
    (their effect on peak memory is measured by benchmarks/run.py --only maps)."""
    from sfckit.stats.maps import column_block

    rng = np.random.default_rng(0)
    data = rng.normal(size=(37, 1001)).astype(np.float32)
    stored = np.lib.format.open_memmap(
        tmp_path / "m.npy", mode="w+", dtype=np.float32, shape=data.shape
    )
    stored[:] = data
    stored.flush()
    for block in (slice(0, 1), slice(0, 1001), slice(500, 777), slice(1000, 1001)):
        got = column_block(stored, block)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, data[:, block].astype(np.float64))
    np.testing.assert_array_equal(column_block(data, slice(3, 9)), data[:, 3:9])


def test_releasing_pages_ignores_a_changed_private_handle(tmp_path):
    # numpy.memmap._mmap is private: a handle that fails leaves the pages resident, no error
    from sfckit.stats.maps import _release

    class Broken:
        def madvise(self, *args):
            raise ValueError("madvise changed")

    values = np.lib.format.open_memmap(tmp_path / "m.npy", mode="w+", shape=(4, 3))
    values[:] = 1.0
    _release(values)  # the real handle
    values._mmap = Broken()
    _release(values)
    assert float(np.asarray(values).sum()) == 12.0
