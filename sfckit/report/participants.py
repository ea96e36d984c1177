"""Table 1 (the participants, baseline apart from follow-up) and the Methods on the
participants and the feature extraction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sfckit.report.apa import count, integer, label, listing
from sfckit.report.blocks import table as _table
from sfckit.report.blocks import text as _text
from sfckit.report.context import Blocks, ReportContext, follow_up_columns
from sfckit.report.tables import table_one
from sfckit.version import __version__

RESERVED = {"participant_id", "group"}
ATLAS_NAMES = {"harvard-oxford": "Harvard–Oxford", "aal": "AAL"}


def atlas_name(name: str) -> str:
    """The published name of a built-in atlas (a custom atlas keeps its own name)."""
    return ATLAS_NAMES.get(name, name)


def table_one_blocks(
    context: ReportContext, declared: Iterable[tuple[str, Iterable[str]]]
) -> Blocks | None:
    """Baseline characteristics by group, and the follow-up columns apart.

    Parameters
    ----------
    context : ReportContext
        The results folder.
    declared : iterable of (section, field names)
        The steps' settings that name follow-up or outcome columns.
    """
    if context.clinical is None:
        return None
    follow_up = follow_up_columns(context, declared)
    variables = [c for c in context.clinical.columns if c not in RESERVED]
    baseline = [c for c in variables if c not in follow_up]
    later = [c for c in variables if c in follow_up]
    order = context.group_order()
    clinical = context.clinical[context.clinical["group"].isin(order)]
    context.facts["group_sizes"] = {g: int((clinical["group"] == g).sum()) for g in order}
    blocks = [
        _table(table_one(clinical, order, baseline), "Baseline characteristics"),
        _text(
            "Continuous variables: mean ± SD; a test compares the groups in which the "
            "variable varies (named when not all groups: clinical variables among "
            "patients only), Welch's t-test for two groups, one-way ANOVA for more. "
            "Counts: median [interquartile range], Mann-Whitney U or Kruskal-Wallis test. "
            "Binary variables: n (%); categorical: n (%) per level; chi-squared test "
            "(Fisher's exact test for two groups with small expected counts), also among "
            "the groups in which the variable varies."
        ),
    ]
    if later:
        blocks.append(
            _table(
                table_one(clinical, order, later),
                "Treatment and follow-up (measured after baseline; not predictors)",
            )
        )
    return blocks


def participants_methods(context: ReportContext) -> list[str] | None:
    """The cohort analysed."""
    sizes = context.facts.get("group_sizes")
    if not sizes:
        return None
    total = sum(sizes.values())
    left_out = getattr(context, "not_analysed", {})
    return [
        f"The analysed cohort comprised {count(total, 'participant')}: "
        + listing([f"{integer(n)} {label(g)}" for g, n in sizes.items()])
        + (
            f" ({integer(total + sum(left_out.values()))} in the manifest; "
            + listing(f"{integer(n)} {why}" for why, n in left_out.items())
            + ")"
            if left_out
            else ""
        )
        + "."
    ]


def extraction_methods(context: ReportContext) -> list[str] | None:
    """Regional GMV, ALFF and SFC."""
    extraction = context.extract_parameters
    if not extraction:
        return None
    atlases = [atlas_name(a) for a in context.atlases]
    convention = extraction.get("alff_convention", "sfckit")
    method = str(extraction["method"])
    described = {
        "voxel-correlation": "Fisher-z transformed Pearson correlation",
        "voxel-spearman": "Fisher-z transformed voxel-wise Spearman correlation",
        "kl-similarity": "similarity exp(−KL) of the kernel-density estimates",
        "profile": "Spearman correlation of the morphometric-similarity and "
        "functional-connectivity profiles",
        "searchlight": "mean of the searchlight correlation map",
    }.get(method, method)
    return [
        f"With sfckit {__version__}, regional gray-matter volume (GMV) and the amplitude of "
        f"low-frequency fluctuations (ALFF, {extraction['band'][0]}–{extraction['band'][1]} Hz"
        f"{', computed as in ' + convention.upper() if convention != 'sfckit' else ''}; "
        f"divided by the participant's mean gray-matter ALFF){context.cite('zang')} were "
        f"extracted in each region of the {listing(atlases)} "
        f"{'atlases' if len(atlases) > 1 else 'atlas'}, over voxels with GMV above "
        f"{extraction['gm_threshold']}.",
        f"Structure–function coupling (SFC) was the {described} between GMV and ALFF across a "
        f"region's voxels; regions with fewer than {extraction['min_voxels']} valid voxels "
        "were missing for that participant.",
        *processing_sentences(context),
        *_unmodulated_note(context),
    ]


DENOISING = {
    "6P": "the six rigid-body motion parameters (6P",
    "24P": "24 motion parameters (24P: the six rigid-body parameters, their temporal "
    "derivatives and the squares of both",
    "24P+2P": "24 motion parameters and the mean white-matter and CSF signals (24P+2P: the "
    "six rigid-body parameters, their temporal derivatives, the squares of both and the two "
    "tissue signals",
}


def processing_sentences(context: ReportContext) -> list[str]:
    """What the extraction did to the images beyond ALFF and the atlas, read from the
    primary atlas's provenance (``features/<atlas>/dataset_description.json``) and its
    ``qc.tsv``: non-steady-state volumes, nuisance regression, censoring, resampling and
    quality-control exclusions. A new option reaches the Methods by being recorded there."""
    import json

    from sfckit.io.tables import read_tsv

    folder = context.layout.features(context.primary or "")
    try:
        record = json.loads((folder / "dataset_description.json").read_text())["GeneratedBy"][0]
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return []
    parameters = record.get("Parameters") or {}
    qc = read_tsv(folder / "qc.tsv") if (folder / "qc.tsv").is_file() else None

    def total(column: str) -> int:
        if qc is None or column not in qc.columns:
            return 0
        return int(qc[column].fillna(0).astype(float).sum())

    def affected(column: str) -> int:
        if qc is None or column not in qc.columns:
            return 0
        return int((qc[column].fillna(0).astype(float) > 0).sum())

    sentences = []
    steady = total("n_non_steady_state")
    if steady:
        what = "discarded" if parameters.get("non_steady_state") == "drop" else "kept"
        participants = count(affected("n_non_steady_state"), "participant")
        sentences.append(
            f"Volumes fMRIPrep flagged as non-steady-state were {what} "
            f"({count(steady, 'volume')} in {participants})."
        )
    denoise = str(record.get("Denoising", "none"))
    if denoise != "none":
        sentences.append(
            "Before ALFF, nuisance regression removed "
            f"{DENOISING.get(denoise, denoise + ' (' + denoise)}; fMRIPrep confounds) from each "
            f"voxel's time series{context.cite('friston')}."
        )
    threshold = parameters.get("fd_threshold")
    if threshold is not None:
        censored = total("n_censored")
        sentences.append(
            f"Volumes with framewise displacement above {threshold} mm were censored "
            f"({count(censored, 'volume')} in {count(affected('n_censored'), 'participant')}), "
            f"and ALFF computed from the kept volumes{context.cite('power')}."
        )
    if str(record.get("Resampling", "none")) != "none":
        sentences.append(f"{record['Resampling'].replace('GMV', 'The GMV', 1)}.")
    rule = str(record.get("QualityExclusion", "none"))
    if rule != "none":
        excluded = folder / "excluded.tsv"
        n = len(read_tsv(excluded)) if excluded.is_file() else 0
        readable_rule = ", ".join(
            part.replace("mean_fd", "mean framewise displacement ")
            .replace("n_nan_regions", "regions without a value ")
            .replace(">", "> ", 1)
            .replace("  ", " ")
            for part in rule.split(",")
        )
        sentences.append(
            f"Quality-control exclusion ({readable_rule}) removed "
            f"{count(n, 'participant')} before analysis."
        )
        if "mean_fd" in rule:
            sentences.extend(_mean_fd_source(record.get("MeanFD"), parameters, context))
    return sentences


def _mean_fd_source(sources: Any, parameters: dict, context: ReportContext) -> list[str]:
    """Where the mean framewise displacement an exclusion rule read came from (the
    extraction's ``MeanFD`` provenance: participants per source)."""
    if not isinstance(sources, dict):
        return []
    computed, given = int(sources.get("confounds", 0)), int(sources.get("manifest", 0))
    parts = []
    if computed:
        steady = (
            " after non-steady-state volumes were discarded"
            if parameters.get("non_steady_state") == "drop"
            else ""
        )
        parts.append(
            f"computed for {count(computed, 'participant')} as the mean of fMRIPrep's "
            f"framewise displacement{context.cite('power')} over the volumes of the run"
            f"{steady}, censored volumes included"
        )
    if given:
        parts.append(f"taken from the manifest for {count(given, 'participant')}")
    if not parts:
        return []
    return [f"Mean framewise displacement was {'; '.join(parts)}."]


def _unmodulated_note(context: ReportContext) -> list[str]:
    """A sentence when the GM maps were probabilities (fMRIPrep), not modulated volumes."""
    import json

    from sfckit.io.discover import UNMODULATED

    description = context.layout.features(context.primary or "") / "dataset_description.json"
    try:
        measures = json.loads(description.read_text())["GeneratedBy"][0]["GrayMatterMeasure"]
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return []
    unmodulated = sum(n for measure, n in measures.items() if UNMODULATED in measure)
    if not unmodulated:
        return []
    return [
        f"For {count(unmodulated, 'participant')} the gray-matter map was fMRIPrep's "
        "unmodulated gray-matter probability, not a modulated volume, so GMV and SFC there "
        "describe tissue probability rather than volume."
    ]
