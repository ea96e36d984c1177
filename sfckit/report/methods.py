"""A methods paragraph, with references, for every analysis that ran (from its files).

Each sentence is written only when the step's output exists; numbers and settings come
from the files the steps wrote (``dataset_description.json``, ``metrics.json``, ...), so
the paragraph can be pasted into a paper and checked against the results folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sfckit import __version__
from sfckit.declarations import layout
from sfckit.declarations.layout import Layout
from sfckit.report.tables import format_value

REFERENCES = {
    "zang": "Zang YF et al. (2007). Altered baseline brain activity in children with ADHD "
    "revealed by resting-state functional MRI. Brain Dev 29:83-91.",
    "zou": "Zou QH et al. (2008). An improved approach to detection of amplitude of "
    "low-frequency fluctuation (ALFF) for resting-state fMRI: fractional ALFF. J Neurosci "
    "Methods 172:137-141.",
    "bh": "Benjamini Y, Hochberg Y (1995). Controlling the false discovery rate. J R Stat Soc "
    "B 57:289-300.",
    "holm": "Holm S (1979). A simple sequentially rejective multiple test procedure. Scand J "
    "Stat 6:65-70.",
    "freedman": "Freedman D, Lane D (1983). A nonstochastic interpretation of reported "
    "significance levels. J Bus Econ Stat 1:292-298.",
    "fisher": "Fisher RA (1921). On the probable error of a coefficient of correlation "
    "deduced from a small sample. Metron 1:3-32.",
    "varoquaux": "Varoquaux G et al. (2017). Assessing and tuning brain decoders: "
    "cross-validation, caveats, and guidelines. NeuroImage 145:166-179.",
    "platt": "Platt J (1999). Probabilistic outputs for support vector machines. Advances in "
    "Large Margin Classifiers 10:61-74.",
    "goorbergh": "van den Goorbergh R et al. (2022). The harm of class imbalance corrections "
    "for risk prediction models. J Am Med Inform Assoc 29:1525-1534.",
    "delong": "DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Comparing the areas under two "
    "or more correlated receiver operating characteristic curves. Biometrics 44:837-845.",
    "pencina": "Pencina MJ et al. (2008). Evaluating the added predictive ability of a new "
    "marker. Stat Med 27:157-172.",
    "vancalster": "Van Calster B et al. (2019). Calibration: the Achilles heel of predictive "
    "analytics. BMC Med 17:230.",
    "vickers": "Vickers AJ, Elkin EB (2006). Decision curve analysis. Med Decis Making 26:565-574.",
    "fortin": "Fortin JP et al. (2018). Harmonization of cortical thickness measurements "
    "across scanners and sites. NeuroImage 167:104-120.",
    "harrell": "Harrell FE et al. (1982). Evaluating the yield of medical tests. JAMA "
    "247:2543-2546.",
    "collins": "Collins GS et al. (2024). TRIPOD+AI statement. BMJ 385:e078378.",
}


def _json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _parameters(folder: Path) -> dict[str, Any]:
    description = _json(folder / layout.DESCRIPTION) or {}
    return description.get("GeneratedBy", [{}])[0].get("Parameters", {})


def _listing(items: list[str]) -> str:
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _cite(keys: list[str], used: list[str]) -> str:
    numbers = []
    for key in keys:
        if key not in used:
            used.append(key)
        numbers.append(str(used.index(key) + 1))
    return f" [{', '.join(numbers)}]"


def methods_paragraph(results: Layout, facts: dict[str, Any], atlases: list[str]) -> list[str]:
    """The paragraph (as sentences) and, last, the numbered references it cites."""
    used: list[str] = []
    sentences: list[str] = []
    sizes = facts.get("group_sizes")
    if sizes:
        sentences.append(
            "The analysed cohort comprised "
            + _listing([f"{n} {g}" for g, n in sizes.items()])
            + " participants."
        )
    primary = atlases[0] if atlases else None
    extraction = _parameters(results.features(primary)) if primary else {}
    if extraction:
        convention = extraction.get("alff_convention", "sfckit")
        sentences.append(
            f"With sfckit {__version__}, regional gray-matter volume (GMV) and the amplitude of "
            f"low-frequency fluctuations (ALFF, {extraction['band'][0]}-{extraction['band'][1]}"
            f" Hz{', computed as in ' + convention.upper() if convention != 'sfckit' else ''};"
            f" divided by the participant's mean gray-matter ALFF){_cite(['zang'], used)} were "
            f"extracted in each region of the {_listing(atlases)} atlas"
            f"{'es' if len(atlases) > 1 else ''}, over voxels with GMV above "
            f"{extraction['gm_threshold']}."
        )
        sentences.append(
            "Structure-function coupling (SFC) was the Fisher-z transformed "
            f"{extraction['method'].replace('-', ' ')} between GMV and ALFF across a region's "
            f"voxels; regions with fewer than {extraction['min_voxels']} valid voxels were "
            "missing for that participant."
        )
    stats = _parameters(results.stats(primary)) if primary else {}
    if "significant_regions" in facts and stats:
        covariates = stats.get("covariates") or []
        sentences.append(
            "Group differences in SFC were tested in each region by analysis of covariance"
            + (f" adjusting for {_listing(covariates)}" if covariates else "")
            + " (type-II sums of squares), with the Benjamini-Hochberg false discovery rate "
            f"across regions{_cite(['bh'], used)} at {stats.get('alpha', 0.05)} and "
            f"Holm-corrected pairwise contrasts{_cite(['holm'], used)}; regions with a value "
            f"for fewer than {stats.get('min_coverage', 0):.0%} of participants were "
            f"excluded. {len(facts['significant_regions'])} region(s) differed."
        )
        if (results.stats(primary) / layout.SPECIFICITY).is_file():
            sentences.append(
                "To ask whether the differences were specific to coupling, the same models "
                "were fitted to regional GMV and ALFF."
            )
    if "reference_areas" in facts or "replicated" in facts:
        done = facts.get("reference_areas")
        areas = f" ({done[0]} of {done[1]} of the reference study's areas)" if done else ""
        sentences.append(
            f"Significant regions of the {atlases[0]} atlas were looked up in the "
            f"{atlases[1] if len(atlases) > 1 else 'second'} atlas by voxel overlap; a region "
            "replicated when an overlapping region was significant with the same direction; "
            f"{len(facts.get('replicated', []))} region(s) replicated{areas}."
        )
    correlations = _parameters(results.correlations)
    if "correlations" in facts and correlations:
        covariates = correlations.get("covariates") or []
        sentences.append(
            f"Within {_listing(correlations.get('within') or [])}, "
            f"{correlations.get('method', 'pearson').capitalize()} partial correlations of SFC "
            f"with {_listing(correlations.get('scores') or [])}"
            + (f" adjusting for {_listing(covariates)}" if covariates else "")
            + " were tested with FDR across regions and scores, and correlations were compared "
            f"between groups by Fisher's z test{_cite(['fisher'], used)}; "
            f"{len(facts['correlations'])} correlation(s) reached FDR < 0.05."
        )
    searchlight = facts.get("searchlight")
    if searchlight:
        sentences.append(
            "Searchlight coupling maps (the GMV-ALFF correlation within a sphere around each "
            "gray-matter voxel) were compared voxel-wise with an omnibus F test, family-wise "
            f"error controlled by {searchlight['n_permutations']} Freedman-Lane "
            f"permutations{_cite(['freedman'], used)}; "
            f"{searchlight['n_significant_voxels_fwe']} voxel(s) in "
            f"{searchlight['n_clusters']} cluster(s) survived."
        )
    for row in facts.get("classification", []):
        floor = row.get("perm_p_at_floor")
        tuning = _cite(["varoquaux"], used)
        sentences.append(
            f"A {row['model']} classifier separated {row['positive']} from {row['negative']} "
            f"in nested cross-validation ({row['outer']} outer folds repeated {row['repeats']} "
            f"times, hyper-parameters tuned in {row['inner']} inner folds{tuning}"
            f"; probabilities calibrated{_cite(['platt'], used)} without class "
            f"reweighting{_cite(['goorbergh'], used)}), with an AUC of the pooled out-of-fold "
            f"probabilities of {format_value(row['auc'])} (95% CI "
            f"{format_value(row['auc_ci_low'])}-{format_value(row['auc_ci_high'])}) and a "
            f"label-permutation p of {format_value(row['perm_p'])} ({row['n_permutations']} "
            "permutations"
            + ("; the smallest p this number of permutations can give" if floor else "")
            + ")."
        )
    benchmark = _json(results.benchmark / layout.BENCHMARK_JSON)
    if benchmark:
        settings = benchmark.get("settings", {})
        aucs = {m["model"]: m for m in benchmark.get("models", [])}
        text = (
            "To ask whether imaging adds to what is known clinically, a logistic model on "
            f"{_listing(settings.get('clinical') or [])} was compared with the imaging and "
            "the combined models on the same folds by DeLong's test"
            f"{_cite(['delong'], used)}, the net reclassification and integrated "
            f"discrimination improvements{_cite(['pencina'], used)}, calibration"
            f"{_cite(['vancalster'], used)} and decision curves{_cite(['vickers'], used)}"
        )
        if settings.get("harmonize"):
            text += f", with ComBat{_cite(['fortin'], used)} fitted inside the training folds"
        if settings.get("deconfound"):
            text += (
                f", and once with {_listing(settings['deconfound'])} regressed out of the "
                "imaging features inside the training folds"
            )
        found = [
            f"{name} {format_value(aucs[name]['auc'])}"
            for name in ("clinical", "imaging", "imaging+clinical")
            if name in aucs
        ]
        sentences.append(text + (f" (AUC: {'; '.join(found)})." if found else "."))
    for row in facts.get("outcomes", []):
        cite = _cite(["harrell"], used) if row["metric"] == "C-index" else ""
        sentences.append(
            f"Baseline coupling predicted {row['target']} ({row['definition']}) in "
            f"{row.get('population') or 'the cohort'} with {row['metric']}{cite} "
            f"{format_value(row['value'])} (95% CI {format_value(row['ci_low'])}-"
            f"{format_value(row['ci_high'])})"
            + (
                f"; a model knowing only the group reached AUC "
                f"{format_value(row['group_only_auc'])}"
                if row.get("group_only_auc") is not None
                else ""
            )
            + "."
        )
    if facts.get("classification") or benchmark:
        sentences.append(f"Reporting follows TRIPOD+AI{_cite(['collins'], used)}.")
    references = " ".join(f"[{i + 1}] {REFERENCES[key]}" for i, key in enumerate(used))
    return [*sentences, references] if used else sentences
