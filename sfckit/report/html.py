"""Build the single, self-contained HTML report from the files a run wrote.

The report reads only files (``study.json``, ``features/``, ``stats/``, ``replication/``,
``correlations/``, ``classify/``, ``benchmark/``, ``stats/searchlight/``, ``outcomes/``);
every section whose files are absent is listed as missing instead. All text from input
files is escaped by Jinja2's autoescaping and the page loads nothing from outside (images
are data URIs; a Content-Security-Policy forbids any other source).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2
import nibabel as nib
import numpy as np
import pandas as pd
from scipy import stats

from sfckit import __version__
from sfckit.declarations import layout
from sfckit.declarations.layout import Layout
from sfckit.errors import file_error
from sfckit.features.qc import OUTLIER_MADS, outlier_mask
from sfckit.io.manifest import read_manifest
from sfckit.io.outputs import atomic_write, read_tsv, write_tsv
from sfckit.learn.results import RESEARCH_NOTICE
from sfckit.report import figures
from sfckit.report.blocks import figures as _figures
from sfckit.report.blocks import read_json as _json
from sfckit.report.blocks import table as _table
from sfckit.report.blocks import text as _text
from sfckit.report.tables import display_table, format_value, table_one

MAX_REGION_FIGURES = 8
DEFAULT_ALPHA = 0.05  # only when the stats folder records none (written by older sfckit)
RESERVED = {"participant_id", "group"}


class ReportBuilder:
    """Collects report sections from a results folder."""

    def __init__(self, results: Path, follow_up: Sequence[str] = ()):
        self.results = results
        self.follow_up = tuple(follow_up)
        self.sections: list[dict[str, Any]] = []
        self.missing: list[str] = []
        self.layout = Layout(results)
        self.study = _json(self.layout.study) or {}
        stats_root = self.layout.stats_root
        atlases = [
            str(a if isinstance(a, str) else a.get("name")) for a in self.study.get("atlases", [])
        ]
        found = (
            sorted(p.name for p in stats_root.iterdir() if p.name != "searchlight")
            if stats_root.is_dir()
            else []
        )
        self.atlases = [a for a in atlases if a in found] or found
        self.primary = self.atlases[0] if self.atlases else None
        self.stats_parameters = self._parameters(self.layout.stats(self.primary or ""))
        self.extract_parameters = self._parameters(self.layout.features(self.primary or ""))
        self.alpha = float(self.stats_parameters.get("alpha", DEFAULT_ALPHA))
        self.clinical = self._clinical()
        self.facts: dict[str, Any] = {}
        self.checklists: dict[str, pd.DataFrame] = {}

    @staticmethod
    def _parameters(folder: Path) -> dict[str, Any]:
        """The settings a step ran with, from its ``dataset_description.json``."""
        description = _json(folder / layout.DESCRIPTION) or {}
        return description.get("GeneratedBy", [{}])[0].get("Parameters", {})

    def _clinical(self) -> pd.DataFrame | None:
        manifest = self.study.get("manifest")
        if manifest is None and self.primary:
            description = _json(self.layout.features(self.primary) / layout.DESCRIPTION) or {}
            manifest = description.get("GeneratedBy", [{}])[0].get("Manifest")
        if manifest is None or not Path(manifest).is_file():
            return None
        return read_manifest(manifest, check_files=False).clinical()

    def add(self, key: str, title: str, blocks: list[dict[str, Any]]) -> None:
        self.sections.append({"id": key, "title": title, "blocks": blocks})

    def group_order(self) -> list[str]:
        groups = self.stats_parameters.get("groups")
        if groups:
            return list(groups)
        return list(dict.fromkeys(self.clinical["group"])) if self.clinical is not None else []

    # -- sections ---------------------------------------------------------------------------
    def table_one(self) -> None:
        if self.clinical is None:
            self.missing.append(
                "Table 1 (no manifest found via study.json or the features' "
                "dataset_description.json)"
            )
            return
        follow_up = self.follow_up_columns()
        variables = [c for c in self.clinical.columns if c not in RESERVED]
        baseline = [c for c in variables if c not in follow_up]
        later = [c for c in variables if c in follow_up]
        order = self.group_order()
        clinical = self.clinical[self.clinical["group"].isin(order)]
        self.facts["group_sizes"] = {g: int((clinical["group"] == g).sum()) for g in order}
        blocks = [
            _table(table_one(clinical, order, baseline), "Baseline characteristics"),
            _text(
                "Continuous variables: mean ± SD; a test compares the groups in which the "
                "variable varies (named when not all groups: clinical variables among "
                "patients only), Welch's t-test for two groups, one-way ANOVA for more. "
                "Binary variables: n (%); categorical: n (%) per level; chi-squared test "
                "(Fisher's exact test for two groups with small expected counts)."
            ),
        ]
        if later:
            blocks.append(
                _table(
                    table_one(clinical, order, later),
                    "Treatment and follow-up (measured after baseline; not predictors)",
                )
            )
        self.add("table1", "Table 1: participants", blocks)

    def follow_up_columns(self) -> set[str]:
        """Columns measured after baseline: declared, plus the outcome steps' own columns."""
        columns = set(self.follow_up)
        root = self.layout.outcomes_root
        for folder in sorted(root.iterdir()) if root.is_dir() else []:
            parameters = self._parameters(folder)
            for key in ("post", "time_column", "event_column", "treatment_column"):
                if parameters.get(key):
                    columns.add(str(parameters[key]))
        return columns

    def group_effects(self) -> None:
        if self.primary is None:
            self.missing.append("Group differences (no stats/ folder)")
            return
        folder = self.layout.stats(self.primary)
        stats_table = read_tsv(folder / layout.GROUP_STATS)
        posthoc = read_tsv(folder / layout.POSTHOC)
        significant = stats_table[stats_table["p_fdr"] < self.alpha].sort_values("p")
        self.facts["significant_regions"] = significant["region"].tolist()
        blocks = [
            _text(
                f"Atlas {self.primary}: {len(significant)} of {len(stats_table)} "
                f"regions differ between groups at FDR < {self.alpha}."
            )
        ]
        if (folder / layout.ATLAS_IMAGE).is_file() and (folder / layout.REGIONS).is_file():
            uri = figures.brain_maps(
                nib.load(folder / layout.ATLAS_IMAGE),
                read_tsv(folder / layout.REGIONS),
                stats_table,
                self.alpha,
            )
            blocks.append(
                _figures(
                    [
                        (
                            uri,
                            "Group effect size per region (top) and the regions "
                            "significant after FDR correction (bottom).",
                        )
                    ]
                )
            )
        blocks.append(
            _table(
                display_table(
                    significant, ["region", "F", "df1", "df2", "p", "p_fdr", "partial_eta2", "n"]
                ),
                "Significant regions (ANCOVA, type-II F)",
            )
        )
        posthoc_significant = posthoc[posthoc["region"].isin(significant["region"])]
        blocks.append(
            _table(
                display_table(
                    posthoc_significant,
                    ["region", "contrast", "estimate", "t", "p_holm", "cohen_d"],
                ),
                "Post-hoc contrasts of adjusted means (Holm within region)",
            )
        )
        sfc_path = self.layout.features(self.primary) / layout.SFC
        if self.clinical is not None and sfc_path.is_file():
            sfc = read_tsv(sfc_path).set_index("participant_id")
            adjusted, label = self._adjusted(sfc, significant["region"].head(MAX_REGION_FIGURES))
            groups = self.clinical.set_index("participant_id")["group"].reindex(sfc.index)
            images = []
            for region in significant["region"].head(MAX_REGION_FIGURES):
                rows = posthoc[posthoc["region"] == region]
                note = "; ".join(
                    f"{r.contrast}: p(Holm) {format_value(r.p_holm)}" for r in rows.itertuples()
                )
                means = stats_table.set_index("region").loc[region]
                marks = [means.get(f"adjusted_mean_{g}", np.nan) for g in self.group_order()]
                images.append(
                    (
                        figures.group_distribution(
                            adjusted[region],
                            groups,
                            self.group_order(),
                            readable(region),
                            note,
                            ylabel=label,
                            marks=marks,
                        ),
                        f"{readable(region)}: SFC by group, {label.split(', ', 1)[-1]}; "
                        "diamonds are the estimated marginal means of the ANCOVA",
                    )
                )
            if images:
                blocks.append(_figures(images))
            self._quality(sfc, significant["region"].tolist())
        self.add("groups", "Group differences in SFC", blocks)

    def _adjusted(self, sfc: pd.DataFrame, regions: Any) -> tuple[pd.DataFrame, str]:
        """SFC moved to the covariates' mean with the ANCOVA's slopes, per region."""
        from sfckit.stats.design import covariate_design
        from sfckit.stats.group_tests import adjusted_values

        covariates = self.stats_parameters.get("covariates") or []
        order = self.group_order()
        clinical = self.clinical.set_index("participant_id").reindex(sfc.index)
        rows = clinical["group"].astype(str).isin(order).to_numpy()
        design = covariate_design(
            clinical.loc[rows],
            covariates,
            categorical=self.stats_parameters.get("categorical") or [],
        ).matrix
        codes = pd.Categorical(clinical.loc[rows, "group"].astype(str), categories=order).codes
        adjusted = pd.DataFrame(np.nan, index=sfc.index, columns=list(regions))
        for region in regions:
            values = sfc.loc[rows, region].to_numpy(dtype=float)
            adjusted.loc[rows, region] = adjusted_values(values, codes, design, len(order))
        label = "SFC (Fisher z)" + (
            f", adjusted for {', '.join(covariates)}" if covariates else ", unadjusted"
        )
        return adjusted, label

    def _quality(self, sfc: pd.DataFrame, regions: list[str]) -> None:
        features = self.layout.features(self.primary)
        regions_table = features / layout.REGIONS
        blocks = []
        for name, label in ((layout.FAILURES, "reason"), (layout.EXCLUDED, "rule")):
            if (features / name).is_file():
                table = read_tsv(features / name)
                what = "failed extraction" if name == layout.FAILURES else "were excluded by QC"
                blocks.append(_text(f"{len(table)} participant(s) {what}."))
                if len(table):
                    blocks.append(_table(display_table(table, ["participant_id", label])))
        if regions_table.is_file():
            coverage = read_tsv(regions_table)
            low = coverage[coverage["coverage"] < 1]
            blocks.append(
                _text(
                    f"{len(low)} region(s) lack a value in some participants "
                    "(too few gray-matter voxels)."
                )
            )
            if len(low):
                blocks.append(
                    _table(
                        display_table(
                            low, ["name", "n_voxels", "coverage", "n_participants_nan"], limit=30
                        )
                    )
                )
        if regions:
            gaps = sfc.index[sfc[regions].isna().any(axis=1)].tolist()
            blocks.append(
                _text(
                    "Participants missing a value in a significant region: "
                    + (", ".join(map(str, gaps)) if gaps else "none")
                    + "."
                )
            )
            outlying = outlier_mask(sfc[regions]).stack()
            flagged = [f"{pid} ({region})" for (pid, region), hit in outlying.items() if hit]
            blocks.append(
                _text(
                    f"Values beyond {OUTLIER_MADS} scaled MADs from the median in a significant "
                    "region: " + (", ".join(flagged[:40]) if flagged else "none") + "."
                )
            )
        self.add("qc", "Coverage and missing values", blocks)

    def specificity_and_replication(self) -> None:
        folder = self.layout.stats(self.primary or "")
        if (folder / layout.SPECIFICITY).is_file():
            table = read_tsv(folder / layout.SPECIFICITY)
            self.add(
                "specificity",
                "Specificity: does SFC find what GMV or ALFF alone miss?",
                [
                    _table(display_table(table)),
                    _text(
                        "gmv_differs / alff_differs: the same ANCOVA on regional GMV or mALFF is "
                        f"significant at FDR < {self.alpha}; sfc_specific: neither is."
                    ),
                ],
            )
        else:
            self.missing.append("Specificity (stats/<atlas>/specificity.tsv)")
        path = self.layout.replication / layout.REPLICATION_SUMMARY
        if path.is_file():
            summary = read_tsv(path)
            replicated = summary.loc[summary["replicated"].astype(bool), "region_a"].tolist()
            self.facts["replicated"] = replicated
            first = self.atlases[0] if self.atlases else "atlas A"
            second = self.atlases[1] if len(self.atlases) > 1 else "atlas B"
            blocks = []
            areas_path = self.layout.replication / layout.REFERENCE_AREAS
            if areas_path.is_file():
                areas = read_tsv(areas_path)
                done = int(areas["replicated"].astype(bool).sum())
                self.facts["reference_areas"] = (done, len(areas))
                blocks += [
                    _text(
                        f"{done} of {len(areas)} of the reference study's areas replicated: "
                        f"significant in {first} and, with the same direction, in {second}."
                    ),
                    _table(
                        display_table(
                            areas,
                            ["area", "regions_a", "significant_a", "replicated", "replicated_by"],
                        ),
                        "The reference study's areas in both atlases",
                    ),
                ]
            blocks += [
                _text(
                    f"{len(replicated)} of {len(summary)} significant regions of {first} "
                    f"have an overlapping, significant region with the same direction in "
                    f"{second}."
                ),
                _table(
                    display_table(
                        summary,
                        [
                            "region_a",
                            "main_contrast",
                            "replicated",
                            "region_b",
                            "fraction_of_a",
                            "p_fdr_b",
                            "replicated_fraction_of_a",
                        ],
                    ),
                    f"One line per significant region of {first}: its best-overlapping "
                    f"region of {second} (all overlaps in replication/replication.tsv)",
                ),
            ]
            self.add("replication", "Replication across atlases", blocks)
        else:
            self.missing.append("Replication (replication/replication.tsv)")

    def correlations(self) -> None:
        path = self.layout.correlations / layout.CORRELATIONS
        if not path.is_file():
            self.missing.append("Clinical correlations (correlations/correlations.tsv)")
            return
        table = read_tsv(path)
        significant = table[table["p_fdr"] < 0.05].sort_values("p")
        self.facts["correlations"] = significant.to_dict("records")
        blocks = [
            _text(
                f"{len(significant)} of {len(table)} within-group partial correlations "
                "reach FDR < 0.05."
            ),
            _table(
                display_table(
                    significant,
                    ["group", "region", "score", "n", "r", "ci_low", "ci_high", "p", "p_fdr"],
                )
            ),
        ]
        differences_path = self.layout.correlations / layout.CORRELATION_DIFFERENCES
        if differences_path.is_file() and len(significant):
            differences = read_tsv(differences_path)
            tested = differences.merge(
                significant[["region", "score"]].drop_duplicates(), on=["region", "score"]
            )
            blocks.append(
                _table(
                    display_table(
                        tested,
                        ["region", "score", "group_a", "group_b", "r_a", "r_b", "z", "p", "p_fdr"],
                    ),
                    "Is the correlation different between groups? (Fisher z test of r_a - "
                    "r_b; a correlation 'in one group but not the other' needs this test, not "
                    "two separate p-values)",
                )
            )
        sfc_path = self.layout.features(self.primary or "") / layout.SFC
        if self.clinical is not None and sfc_path.is_file() and len(significant):
            from sfckit.stats.correlations import group_partial_residuals
            from sfckit.stats.design import align_features

            parameters = self._parameters(self.layout.correlations)
            features, clinical = align_features(
                read_tsv(sfc_path),
                self.clinical,
                features_source=str(sfc_path),
                clinical_source="manifest",
            )
            covariates = parameters.get("covariates") or []
            adjusted = f" adjusted for {', '.join(covariates)}" if covariates else ""
            images = []
            for row in significant.head(MAX_REGION_FIGURES).itertuples():
                x_res, y_res = group_partial_residuals(
                    features,
                    clinical,
                    group=row.group,
                    region=row.region,
                    score=row.score,
                    covariates=covariates,
                    categorical=parameters.get("categorical") or [],
                    method=parameters.get("method", "pearson"),
                )
                images.append(
                    (
                        figures.residual_scatter(
                            x_res,
                            y_res,
                            xlabel=f"SFC {row.region} (residual)",
                            ylabel=f"{row.score} (residual)",
                            title=f"{row.group}: partial r = {row.r:.2f}",
                        ),
                        f"{row.region} vs {row.score} in {row.group}: residuals{adjusted}; "
                        f"their correlation is the partial r = {row.r:.2f} (n = {row.n})",
                    )
                )
            blocks.append(_figures(images))
        self.add("correlations", "SFC and symptoms", blocks)

    def classification(self) -> None:
        folders = sorted(p.parent for p in self.layout.classify_root.glob(f"**/{layout.METRICS}"))
        if not folders:
            self.missing.append("Classification (classify/<model>/metrics.json)")
            return
        rows, curves, blocks, sample_sizes = [], {}, [], []
        for folder in folders:
            metrics = json.loads((folder / layout.METRICS).read_text())
            if metrics.get("sample_size"):
                sample_sizes.append(f"{metrics['model']}: {metrics['sample_size']['sentence']}")
            rows.append(
                {
                    key: metrics.get(key)
                    for key in (
                        "model",
                        "positive",
                        "negative",
                        "n_positive",
                        "n_negative",
                        "auc",
                        "auc_ci_low",
                        "auc_ci_high",
                        "balanced_accuracy",
                        "sensitivity",
                        "specificity",
                        "perm_p",
                        "perm_p_at_floor",
                        "n_permutations",
                        "repeats",
                        "outer",
                        "inner",
                    )
                }
            )
            if (folder / layout.ROC).is_file():
                curves[metrics["model"]] = read_tsv(folder / layout.ROC)
            if (folder / layout.IMPORTANCE).is_file():
                blocks.append(
                    _figures(
                        [
                            (
                                figures.importance_figure(read_tsv(folder / layout.IMPORTANCE)),
                                f"{metrics['model']}: permutation importance on outer test folds",
                            )
                        ]
                    )
                )
            if (folder / layout.LEARNING_CURVE).is_file():
                curve = read_tsv(folder / layout.LEARNING_CURVE)
                blocks.append(
                    _figures(
                        [
                            (
                                figures.learning_curve_figure(curve),
                                f"{metrics['model']}: pooled out-of-fold AUC (95% CI) when "
                                "each training set is cut to a fraction of its participants; "
                                "a curve still rising at 100% says more data would help",
                            )
                        ]
                    )
                )
        self.facts["classification"] = rows
        if sample_sizes:
            blocks.insert(0, _text("Sample size. " + " ".join(sample_sizes)))
        blocks.insert(
            0,
            _table(
                display_table(pd.DataFrame(rows)),
                "Nested cross-validation (AUC of the pooled out-of-fold probabilities, 95% CI "
                "by participant bootstrap; perm_p_at_floor: p is 1/(permutations + 1), the "
                "smallest this number of permutations can give)",
            ),
        )
        if curves:
            blocks.insert(
                1,
                _figures(
                    [(figures.roc_figure(curves), "Mean ROC over repeats with the 2.5-97.5% band")]
                ),
            )
        self.add("classification", "Classification", blocks)

    def benchmark(self) -> None:
        from sfckit.report.benchmark_section import benchmark_blocks

        blocks = benchmark_blocks(self.layout, self.facts)
        if blocks is None:
            self.missing.append("Clinical benchmark (benchmark/benchmark.tsv)")
            return
        self.add("benchmark", "Does imaging add to the clinical model?", blocks)

    def searchlight(self) -> None:
        folder = self.layout.stats(layout.SEARCHLIGHT)
        summary = _json(folder / layout.MAP_STATS)
        if summary is None:
            self.missing.append("Searchlight maps (stats/searchlight/map_stats.json)")
            return
        self.facts["searchlight"] = summary
        significant = summary["n_significant_voxels_fwe"]
        blocks = [
            _text(
                f"Voxel-wise omnibus group F over {summary['n_voxels']} voxels covered by "
                f"every participant's map ({summary['n_permutations']} Freedman-Lane "
                f"permutations, max-F family-wise error): {significant} voxel(s) in "
                f"{summary['n_clusters']} cluster(s) exceed F = "
                f"{format_value(summary['f_critical_fwe'])} (FWE < {summary['alpha']})."
            )
        ]
        f_map = folder / layout.MAP_FOLDER / layout.GROUP_F_MAP
        clusters = read_tsv(folder / layout.CLUSTERS) if significant else None
        f_image = nib.load(f_map) if f_map.is_file() else None
        # Display threshold: uncorrected p < 0.001, the usual exploratory view; the
        # inference is the FWE table.
        threshold = float(stats.f.isf(0.001, *summary["df"]))
        if f_image is not None and f_image.get_fdata().max() <= threshold:
            blocks.append(_text("No voxel reaches even uncorrected p < 0.001; no map is shown."))
        elif f_image is not None:
            # Cuts go through the largest clusters' peaks.
            cuts = list(figures.AXIAL_CUTS_MM)
            if clusters is not None:
                peaks = list(dict.fromkeys(clusters["peak_z"].head(6).tolist()))
                cuts = sorted(peaks + [c for c in cuts if all(abs(c - p) > 8 for p in peaks)])[:6]
            image = figures.statistic_map(f_image, threshold, "group F", cuts)
            caption = f"Group F where uncorrected p < 0.001 (F > {format_value(threshold)}); " + (
                f"FWE-significant voxels (F > {format_value(summary['f_critical_fwe'])}) "
                "are listed below"
                if significant
                else "no voxel survives FWE"
            )
            blocks.append(_figures([(image, caption)]))
        if clusters is not None:
            blocks.append(
                _table(
                    display_table(clusters),
                    "FWE-significant clusters (peak in MNI mm; regions with voxel counts)",
                )
            )
        counts = summary.get("significant_voxels_per_contrast", {})
        if counts:
            blocks.append(
                _text(
                    "Pairwise contrasts (nilearn permuted_ols, max-t FWE): "
                    + "; ".join(f"{k.replace('_', ' ')}: {v} voxel(s)" for k, v in counts.items())
                    + "."
                )
            )
        self.add("searchlight", "Where does coupling differ? Searchlight maps", blocks)

    def normative(self) -> None:
        from sfckit.report.normative import normative_blocks

        blocks = normative_blocks(self.layout)
        if blocks is not None:
            self.add("normative", "Deviations from the controls' norm", blocks)

    def tms(self) -> None:
        from sfckit.report.tms import tms_blocks

        blocks = tms_blocks(self.layout)
        if blocks is not None:
            self.add("tms", "Where to stimulate? Individual rTMS targets", blocks)

    def subtypes(self) -> None:
        from sfckit.report.subtypes import subtype_blocks

        blocks = subtype_blocks(self.layout)
        if blocks is not None:
            self.add("subtypes", "Are there subtypes?", blocks)

    def treatment(self) -> None:
        from sfckit.report.treatment import treatment_blocks

        blocks = treatment_blocks(self.layout)
        if blocks is not None:
            self.add("treatment", "Which next step for whom? Treatment rules", blocks)

    def outcomes(self) -> None:
        root = self.layout.outcomes_root
        folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        rows = []
        for folder in folders:
            metrics = _json(folder / layout.METRICS)
            if metrics is None:
                continue
            survival = "c_index" in metrics
            rows.append(
                {
                    "target": metrics["target"],
                    "population": ", ".join(metrics.get("population") or []),
                    "definition": metrics["definition"],
                    "n": metrics.get("n_followed")
                    or metrics.get("n_positive", 0) + metrics.get("n_negative", 0),
                    "events": metrics.get("n_relapses", metrics.get("n_positive")),
                    "metric": "C-index" if survival else "AUC",
                    "value": metrics["c_index" if survival else "auc"],
                    "ci_low": metrics["c_index_ci_low" if survival else "auc_ci_low"],
                    "ci_high": metrics["c_index_ci_high" if survival else "auc_ci_high"],
                    "calibration_slope": metrics.get("calibration_slope"),
                    "group_only_auc": metrics.get("group_only_auc"),
                    "delong_vs_group_only_p": metrics.get("delong_vs_group_only_p"),
                }
            )
        if not rows:
            self.missing.append("Treatment outcomes (outcomes/*/metrics.json)")
            return
        self.facts["outcomes"] = rows
        self.add(
            "outcomes",
            "Treatment outcomes from baseline coupling",
            [
                _table(
                    display_table(pd.DataFrame(rows)),
                    "Nested cross-validation; binary outcomes: AUC, time to relapse: Harrell's "
                    "C of a ridge Cox model (95% CI: participant bootstrap)",
                ),
                _text(
                    "What the outcome model adds: when the population spans several groups "
                    "(e.g. TRD and nTRD, which are defined by their response to treatment), "
                    "knowing the group alone predicts the outcome; group_only_auc is that "
                    "model's AUC on the same folds and the DeLong p compares the two. An "
                    "imaging model that does not beat it has only re-detected the groups."
                ),
                _text(RESEARCH_NOTICE),
            ],
        )

    def methods(self) -> None:
        from sfckit.report.methods import methods_paragraph

        sentences = methods_paragraph(self.layout, self.facts, self.atlases)
        if sentences:
            paragraph, references = (
                (sentences[:-1], sentences[-1]) if "[1]" in sentences[-1] else (sentences, "")
            )
            blocks = [_text(" ".join(paragraph))]
            if references:
                blocks.append(_text("References: " + references))
            self.add("methods", "Methods (generated from the files of this run)", blocks)

    def tripod(self) -> None:
        from sfckit.report.probast import analysis_check
        from sfckit.report.tripod import checklist

        table = checklist(self.layout)
        bias = analysis_check(self.layout)
        self.checklists = {layout.TRIPOD: table, layout.PROBAST: bias}
        self.add(
            "tripod",
            "TRIPOD+AI items and PROBAST+AI analysis check this run can answer",
            [
                _text(
                    "Status 'reported' only where a file of this run shows it (the evidence "
                    "column names the file and value); 'for the author' marks what no file "
                    "can answer. Also written as tripod_ai.tsv."
                ),
                _table(display_table(table)),
                _table(
                    display_table(bias),
                    "PROBAST+AI analysis domain (signalling questions answered from this run's "
                    "files; also written as probast_ai.tsv)",
                ),
            ],
        )

    def render(self, out_path: Path) -> Path:
        environment = jinja2.Environment(
            loader=jinja2.PackageLoader("sfckit.report", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        html = environment.get_template("report.html.j2").render(
            title=str(self.study.get("name", "sfckit report")),
            version=__version__,
            results=str(self.results),
            sections=self.sections,
            missing=self.missing,
        )
        with atomic_write(out_path) as handle:
            handle.write(html)
        for name, checklist_table in self.checklists.items():
            write_tsv(checklist_table, out_path.parent / name)
        return out_path


def readable(name: str) -> str:
    """An atlas region name for a figure title (``Right_Middle_Frontal_Gyrus`` -> spaces)."""
    return str(name).replace("_", " ")


def build_report(
    results_dir: str | Path,
    out_path: str | Path | None = None,
    *,
    follow_up: Sequence[str] = (),
) -> Path:
    """Write one self-contained HTML report for a results folder.

    Parameters
    ----------
    results_dir : str or Path
        A folder written by ``sfckit run`` or ``sfckit demo`` (or with the same layout).
    out_path : str or Path, optional
        Default ``results_dir/report.html``.
    follow_up : sequence of str
        Manifest columns measured after baseline (kept out of Table 1's baseline part).

    Returns
    -------
    Path
        The report.
    """
    results = Path(results_dir)
    if not results.is_dir():
        raise file_error(
            results,
            "the results folder does not exist",
            fix="point --results at the folder sfckit run wrote",
        )
    builder = ReportBuilder(results, follow_up)
    builder.table_one()
    builder.group_effects()
    builder.specificity_and_replication()
    builder.correlations()
    builder.classification()
    builder.benchmark()
    builder.searchlight()
    builder.normative()
    builder.outcomes()
    builder.treatment()
    builder.subtypes()
    builder.tms()
    builder.methods()
    builder.tripod()
    return builder.render(Path(out_path) if out_path else results / "report.html")
