"""Figures of the report, each returned as a PNG data URI (images are embedded in the HTML)."""

from __future__ import annotations

import base64
import functools
import io
import warnings
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
# Group, region, score and participant names come from the user's files: a name such as
# "$T_{1}$", "$\evil$" or an unbalanced "$" must be drawn as it is written, never parsed as
# mathtext (which either reformats it or raises) nor handed to LaTeX (a user's matplotlibrc
# may turn usetex on). Text objects read these settings when created; to_data_uri makes
# sure of every text of a figure before it is drawn (literal_text).
matplotlib.rcParams["text.parse_math"] = False
matplotlib.rcParams["text.usetex"] = False
# the SVG files' element ids are then the same in every run (with no date in their
# metadata, figure_files): a re-run writes byte-identical figure files
matplotlib.rcParams["svg.hashsalt"] = "sfckit"
# the SVG files keep their text as text: a journal's editor (and an author in a drawing
# program) can edit the labels, and the report's linter reads them (report/lint.py)
matplotlib.rcParams["svg.fonttype"] = "none"
import matplotlib.pyplot as plt  # noqa: E402
import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

PALETTE = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860"]
AXIAL_CUTS_MM = (-20, 0, 15, 30, 45, 60)  # MNI z of the axial slices shown in brain maps
# One colour per model in every figure (ROC, calibration, decision curve), whatever the
# order in which a table lists the models.
MODEL_COLOURS = {
    "clinical": "#4c72b0",
    "imaging": "#dd8452",
    "imaging+clinical": "#55a868",
    "imaging_deconfounded": "#c44e52",
    "confounds": "#8172b3",
    "imaging_unharmonized": "#937860",
    "imaging_deviations": "#da8bc3",
    "svm": "#17becf",
    "logistic": "#bcbd22",
    "xgboost": "#e377c2",
    "treat_all": "#999999",
    "treat_none": "#000000",
}
EXTRA_COLOURS = ("#8c8c8c", "#ccb974", "#64b5cd", "#4c4c4c")


def model_order(names: Sequence[str]) -> list[str]:
    """Models in one order in every figure and legend: the benchmark's models as in
    :data:`MODEL_COLOURS`, then the others as given."""
    known = [n for n in MODEL_COLOURS if n in names]
    return known + [n for n in dict.fromkeys(names) if n not in MODEL_COLOURS]


def outside_legend(ax, **options) -> None:
    """A legend to the right of the axes, never over the data."""
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False, **options)


def model_colour(name: str, others: Sequence[str] = ()) -> str:
    """The colour of a model: fixed for the benchmark's models, stable by position else."""
    if name in MODEL_COLOURS:
        return MODEL_COLOURS[name]
    unknown = [n for n in others if n not in MODEL_COLOURS]
    index = unknown.index(name) if name in unknown else 0
    return EXTRA_COLOURS[index % len(EXTRA_COLOURS)]


# matplotlib warns once per missing glyph and per drawing (the page's PNG, the print PNG and
# the SVG of every figure): a name with an emoji gave dozens of lines. Its warning is off;
# to_data_uri says once which characters the font lacks.
GLYPH_WARNING = r"Glyph \d+ \((.*)\) missing from font\(s\) (.*)\."
warnings.filterwarnings("ignore", message=GLYPH_WARNING[:-2])
_GLYPHS_WARNED: set[str] = set()


def _warn_missing_glyphs(caught: Sequence[warnings.WarningMessage]) -> None:
    """One warning for the characters of a figure that its font cannot draw (not warned
    before); every other warning of the drawing is passed on."""
    import re

    missing: dict[str, str] = {}
    for item in caught:
        found = re.match(GLYPH_WARNING, str(item.message))
        if found is None:
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
        elif found.group(1) not in _GLYPHS_WARNED:
            missing[found.group(1)] = found.group(2)
    if missing:
        _GLYPHS_WARNED.update(missing)
        fonts = ", ".join(sorted(set(missing.values())))
        warnings.warn(
            f"the figures' font ({fonts}) cannot draw {', '.join(missing)} (from names in the "
            "data): drawn as empty boxes; the report's text and tables show them; to draw them, "
            "rename (or install a font with them and set matplotlib's font.family)",
            UserWarning,
            stacklevel=3,
        )


def literal_text(figure) -> None:
    """Make every text of ``figure`` (titles, labels, tick labels, legends, notes, nilearn's
    annotations) drawn literally: no mathtext, no LaTeX, and no matplotlib wrapping (which
    measures the text as mathtext whenever it holds two dollar signs, whatever parse_math
    says: a group named ``$\\evil$`` crashed the report so); a wrapped text is wrapped here,
    at its figure's width, instead."""
    from matplotlib.text import Text

    for text in figure.findobj(Text):
        text.set_usetex(False)
        text.set_parse_math(False)
        if text.get_wrap():
            text.set_wrap(False)
            text.set_text(wrapped(text.get_text(), figure, text.get_fontsize()))


def readable_text(figure) -> None:
    """Every name in the texts of ``figure`` as a reader sees it, whichever figure drew it
    (legends of models, tick labels of regions, titles of scores): a text that is one name
    by its :func:`apa.label` (the study's label, else no underscores), names inside a longer
    text by :func:`apa.prose_names`."""
    import re

    from matplotlib.text import Text

    from sfckit.report.apa import label, prose_names

    for text in figure.findobj(Text):
        shown = text.get_text()
        if re.fullmatch(r"[A-Za-z]\w*", shown):
            text.set_text(label(shown))
        elif "_" in shown:
            text.set_text(prose_names(shown))


def wrapped(text: str, figure, fontsize: float) -> str:
    """``text`` broken into lines that fit the width of ``figure`` at ``fontsize`` points
    (an average glyph is about 0.55 em wide)."""
    import textwrap

    width = max(20, int(figure.get_figwidth() * 72 / (0.55 * fontsize)))
    return "\n".join(textwrap.fill(line, width) if line else line for line in text.split("\n"))


def to_data_uri(figure) -> str:
    """Render a matplotlib figure to a base64 PNG data URI (and, while a report collects
    them, to its figure files) and close it."""
    from sfckit.report import figure_files

    readable_text(figure)
    literal_text(figure)
    buffer = io.BytesIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    _warn_missing_glyphs(caught)
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    figure_files.save(figure, uri)
    plt.close(figure)
    return uri


def region_value_image(
    atlas: nib.Nifti1Image, regions: pd.DataFrame, values: dict[str, float]
) -> nib.Nifti1Image:
    """A 3-D image painting each region's value onto its atlas voxels (0 elsewhere)."""
    labels = np.rint(np.asarray(atlas.dataobj)).astype(np.int64)
    lookup = np.zeros(labels.max() + 1, dtype=np.float32)
    for index, name in zip(regions["index"], regions["name"], strict=True):
        value = values.get(name)
        if value is not None and np.isfinite(value) and index < lookup.size:
            lookup[index] = value
    return nib.Nifti1Image(lookup[labels], atlas.affine)


@functools.lru_cache(maxsize=1)
def _mni_template() -> nib.Nifti1Image:
    """nilearn's 2 mm MNI152 template (resampled from its 1 mm file at each load: once)."""
    from nilearn.datasets import load_mni152_template

    return load_mni152_template(resolution=2)


def brain_maps(
    atlas: nib.Nifti1Image, regions: pd.DataFrame, group_stats: pd.DataFrame, alpha: float
) -> str:
    """Partial eta squared of every region, and the FDR-significant regions outlined."""
    from nilearn import plotting

    effect = dict(zip(group_stats["region"], group_stats["partial_eta2"], strict=True))
    significant = {r: 1.0 for r in group_stats.loc[group_stats["p_fdr"] < alpha, "region"]}
    effect_image = region_value_image(atlas, regions, effect)
    significant_image = region_value_image(atlas, regions, significant)
    template = _mni_template()
    figure, axes = plt.subplots(2, 1, figsize=(10, 5.2))
    with warnings.catch_warnings():
        # nilearn's colour bar converts masked voxels; harmless, and not the user's concern
        warnings.filterwarnings("ignore", message=".*converting a masked element.*")
        _plot_maps(
            plotting, effect_image, significant_image, template, axes, alpha, bool(significant)
        )
    return to_data_uri(figure)


def _plot_maps(plotting, effect_image, significant_image, template, axes, alpha, any_significant):
    plotting.plot_stat_map(
        effect_image,
        bg_img=template,
        display_mode="z",
        cut_coords=list(AXIAL_CUTS_MM),
        axes=axes[0],
        cmap="inferno",
        colorbar=True,
        title="group effect (partial eta squared)",
        threshold=1e-6,
        vmin=0,
    )
    if any_significant:
        plotting.plot_roi(
            significant_image,
            bg_img=template,
            display_mode="z",
            cut_coords=list(AXIAL_CUTS_MM),
            axes=axes[1],
            cmap="autumn",
            title=f"regions with FDR < {str(alpha).removeprefix('0')}",
        )
    else:
        axes[1].axis("off")
        axes[1].text(0.5, 0.5, "no region reaches FDR significance", ha="center")


def statistic_map(
    image: nib.Nifti1Image,
    threshold: float,
    title: str,
    cut_coords: Sequence[float] = AXIAL_CUTS_MM,
) -> str:
    """A voxel-wise statistic map on the MNI template (axial cuts at ``cut_coords`` mm),
    voxels below ``threshold`` hidden."""
    from nilearn import plotting
    from nilearn.datasets import load_mni152_template

    figure, axis = plt.subplots(1, 1, figsize=(10, 2.8))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*converting a masked element.*")
        plotting.plot_stat_map(
            image,
            bg_img=load_mni152_template(resolution=2),
            display_mode="z",
            cut_coords=list(cut_coords),
            axes=axis,
            cmap="inferno",
            colorbar=True,
            threshold=threshold,
            vmin=0,
            title=title,
        )
    return to_data_uri(figure)


def group_distribution(
    values: pd.Series,
    groups: pd.Series,
    order: Sequence[str],
    title: str,
    annotation: str,
    *,
    ylabel: str = "SFC (Fisher z)",
    marks: Sequence[float] | None = None,
) -> str:
    """Box plot with the individual points of one region's feature, per group; ``marks``
    (e.g. estimated marginal means) are drawn as diamonds."""
    figure, ax = plt.subplots(figsize=(4.6, 3.4))
    data = [values[groups == g].dropna().to_numpy() for g in order]
    ax.boxplot(data, showfliers=False, widths=0.5)
    rng = np.random.default_rng(0)
    for position, (sample, colour) in enumerate(zip(data, PALETTE, strict=False), start=1):
        ax.scatter(
            position + rng.uniform(-0.15, 0.15, sample.size), sample, s=8, alpha=0.6, color=colour
        )
    if marks is not None:
        ax.scatter(range(1, len(order) + 1), marks, marker="D", s=40, color="black", zorder=3)
    ax.set_xticks(range(1, len(order) + 1), order)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=9)
    figure.text(0.01, -0.02, annotation, fontsize=7, va="top", wrap=True)
    return to_data_uri(figure)


def score_scatter(
    x: pd.Series, y: pd.Series, groups: pd.Series, order: Sequence[str], xlabel: str, ylabel: str
) -> str:
    """SFC against a clinical score, one colour and fitted line per group."""
    figure, ax = plt.subplots(figsize=(4.2, 3.2))
    for group, colour in zip(order, PALETTE, strict=False):
        keep = (groups == group) & x.notna() & y.notna()
        if keep.sum() < 3:
            continue
        ax.scatter(x[keep], y[keep], s=9, alpha=0.6, color=colour, label=group)
        slope, intercept = np.polyfit(x[keep], y[keep], 1)
        grid = np.linspace(x[keep].min(), x[keep].max(), 20)
        ax.plot(grid, intercept + slope * grid, color=colour)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.legend(fontsize=7)
    return to_data_uri(figure)


def residual_scatter(
    x_res: np.ndarray, y_res: np.ndarray, *, xlabel: str, ylabel: str, title: str
) -> str:
    """Partial-residual plot: the residuals the partial correlation is computed on."""
    figure, ax = plt.subplots(figsize=(4.2, 3.2))
    ax.scatter(x_res, y_res, s=10, alpha=0.7, color=PALETTE[0])
    if len(x_res) > 2 and np.ptp(x_res) > 0:
        slope, intercept = np.polyfit(x_res, y_res, 1)
        grid = np.linspace(x_res.min(), x_res.max(), 20)
        ax.plot(grid, intercept + slope * grid, color=PALETTE[3])
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.axvline(0, color="grey", linewidth=0.5)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=9)
    return to_data_uri(figure)


def roc_figure(curves: dict[str, pd.DataFrame]) -> str:
    """Mean ROC curves with their repeat band."""
    figure, ax = plt.subplots(figsize=(5.2, 4))
    for name in model_order(list(curves)):
        table = curves[name]
        colour = model_colour(name, list(curves))
        ax.plot(table["fpr"], table["tpr"], color=colour, label=name)
        if {"tpr_low", "tpr_high"} <= set(table.columns):
            ax.fill_between(
                table["fpr"], table["tpr_low"], table["tpr_high"], color=colour, alpha=0.2
            )
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    outside_legend(ax)
    return to_data_uri(figure)


def calibration_figure(calibration: pd.DataFrame, smoothed: pd.DataFrame | None = None) -> str:
    """Reliability curves as small multiples, one panel per model (in the models' order):
    the smoothed curve as a line (when given), the binned points as markers, the diagonal."""
    names = model_order(list(dict.fromkeys(calibration["model"])))
    columns = min(4, len(names))
    rows = -(-len(names) // columns)
    figure, axes = plt.subplots(
        rows,
        columns,
        figsize=(2.3 * columns, 2.3 * rows),
        sharex=True,
        sharey=True,
        squeeze=False,
    )
    for ax in axes.ravel()[len(names) :]:
        ax.set_visible(False)
    for ax, name in zip(axes.ravel(), names, strict=False):
        part = calibration[calibration["model"] == name]
        colour = model_colour(name, names)
        if smoothed is not None and name in set(smoothed["model"]):
            curve = smoothed[smoothed["model"] == name]
            ax.plot(curve["predicted"], curve["observed"], color=colour)
            ax.plot(part["mean_predicted"], part["observed"], "o", color=colour, markersize=3)
        else:
            ax.plot(part["mean_predicted"], part["observed"], marker="o", color=colour)
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(name, fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("predicted", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("observed", fontsize=8)
    figure.tight_layout()
    return to_data_uri(figure)


def calibration_curves_figure(curves: pd.DataFrame) -> str:
    """Flexible calibration curves of every model in one panel, with their bootstrap bands
    (``model``, ``predicted``, ``observed``, ``lower``, ``upper``), over the diagonal."""
    figure, ax = plt.subplots(figsize=(5.2, 4))
    names = model_order(list(dict.fromkeys(curves["model"])))
    for name in names:
        part = curves[curves["model"] == name]
        colour = model_colour(name, names)
        ax.plot(part["predicted"], part["observed"], color=colour, label=name)
        if {"lower", "upper"} <= set(part.columns):
            ax.fill_between(
                part["predicted"], part["lower"], part["upper"], color=colour, alpha=0.15
            )
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted risk")
    ax.set_ylabel("observed proportion")
    outside_legend(ax)
    return to_data_uri(figure)


def decision_curve_figure(curve: pd.DataFrame) -> str:
    """Net benefit over threshold probabilities for every model and the default strategies."""
    figure, ax = plt.subplots(figsize=(6.2, 3.6))
    names = model_order(
        [c.removeprefix("net_benefit_") for c in curve.columns if c.startswith("net_benefit_")]
    )
    columns = [f"net_benefit_{name}" for name in names]
    for column, name in zip(columns, names, strict=True):
        ax.plot(curve["threshold"], curve[column], label=name, color=model_colour(name, names))
    lowest = curve[columns].to_numpy()
    ax.set_ylim(max(-0.05, np.nanmin(lowest)), np.nanmax(lowest) + 0.02)
    ax.set_xlabel("threshold probability")
    ax.set_ylabel("net benefit")
    outside_legend(ax)
    return to_data_uri(figure)


def learning_curve_figure(curve: pd.DataFrame) -> str:
    """AUC against the number of training participants, with its confidence band."""
    figure, ax = plt.subplots(figsize=(4.2, 3.2))
    ax.plot(curve["n_train"], curve["auc"], marker="o", color=PALETTE[0])
    ax.fill_between(
        curve["n_train"], curve["auc_ci_low"], curve["auc_ci_high"], color=PALETTE[0], alpha=0.2
    )
    ax.axhline(0.5, color="grey", linestyle=":")
    ax.set_xlabel("training participants per outer fold")
    ax.set_ylabel("AUC (pooled out-of-fold)")
    return to_data_uri(figure)


def importance_figure(importance: pd.DataFrame, top: int = 15) -> str:
    """Horizontal bars of the most important regions (AUC drop when shuffled)."""
    head = importance.head(top).iloc[::-1]
    figure, ax = plt.subplots(figsize=(6, 0.28 * len(head) + 1))
    from sfckit.report import apa

    # a categorical axis draws its tick labels from the data, after readable_text has run
    ax.barh(
        apa.labels(head["region"]),
        head["importance_mean"],
        xerr=head.get("importance_sd"),
        color=PALETTE[0],
    )
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel("mean drop in test-fold AUC")
    return to_data_uri(figure)


def toc_figure(curve: pd.DataFrame, reference: str | None = None) -> str:
    """Targeting operator characteristic per treatment (benefit among the top share minus
    the average benefit over ``reference``, the treatment benefit is relative to), with its
    pointwise 95% band when ``toc.tsv`` has one."""
    from sfckit.report import apa

    figure, ax = plt.subplots(figsize=(5, 3.6))
    names = list(dict.fromkeys(curve["treatment"]))
    for position, (treatment, rows) in enumerate(curve.groupby("treatment", sort=False)):
        colour = PALETTE[position % len(PALETTE)]
        ax.plot(
            rows["fraction"],
            rows["toc"],
            label=f"{apa.label(treatment)} vs {apa.label(reference or 'reference')}",
            color=colour,
        )
        if {"toc_ci_low", "toc_ci_high"} <= set(rows.columns):
            ax.fill_between(
                rows["fraction"], rows["toc_ci_low"], rows["toc_ci_high"], color=colour, alpha=0.2
            )
    ax.axhline(0.0, color="grey", linestyle=":")
    ax.set_xlabel("share of patients treated, by predicted benefit")
    ax.set_ylabel("benefit in that share − average benefit")
    outside_legend(ax, title=None if len(names) > 1 else apa.label(names[0]))
    return to_data_uri(figure)


def cumulative_remission_figure(by_step: pd.DataFrame) -> str:
    """Share remitted by each step under the rule's order and the usual order (95% CIs)."""
    figure, ax = plt.subplots(figsize=(5, 3.6))
    shown = {"rule sequence": "rule's order", "usual sequence": "usual order"}
    for position, (policy, name) in enumerate(shown.items()):
        rows = by_step[by_step["policy"] == policy]
        offset = (position - 0.5) * 0.08  # the two intervals side by side, not on top
        ax.errorbar(
            rows["step"] + offset,
            rows["remitted"],
            yerr=[
                rows["remitted"] - rows["remitted_ci_low"],
                rows["remitted_ci_high"] - rows["remitted"],
            ],
            marker="o",
            capsize=3,
            color=PALETTE[0] if position == 0 else "#555555",
            label=name,
        )
    steps = sorted(by_step["step"].unique())
    ax.set_xticks(steps)
    ax.set_xlabel("treatment step")
    ax.set_ylabel("remitted by that step (95% CI)")
    ax.set_ylim(0, 1)
    outside_legend(ax)
    return to_data_uri(figure)


def policy_forest_rows(values: pd.DataFrame) -> tuple[list[str], pd.DataFrame]:
    """The names and rows of the policy forest: the rules, usual care and each treatment
    given to everyone (the rows of ``policy_value.tsv`` that are not differences or the best
    single treatment, which repeats one of the arms)."""
    from sfckit.report import apa

    shown = values[
        ~values["policy"].str.contains(" - ", regex=False)
        & (values["policy"] != "best single treatment")
    ].reset_index(drop=True)

    def name(row: pd.Series) -> str:
        arm = str(row.get("arm") or "")
        if str(row["policy"]).startswith("all ") and arm and arm != "nan":
            return f"everyone: {apa.label(arm)}"
        return str(row["policy"]).replace("imaging+clinical", "imaging + clinical")

    return [name(row) for _, row in shown.iterrows()], shown


def policy_forest_figure(values: pd.DataFrame) -> str:
    """Expected remission (95% CI) under each policy (:func:`policy_forest_rows`)."""
    names, shown = policy_forest_rows(values)
    figure, ax = plt.subplots(figsize=(5.5, 0.45 * len(shown) + 1.2))
    positions = np.arange(len(shown))[::-1]
    usual = shown.loc[shown["policy"] == "usual care", "value"]
    for y, (_, row) in zip(positions, shown.iterrows(), strict=True):
        colour = PALETTE[0] if str(row["policy"]).startswith("rule") else "#555555"
        ax.errorbar(
            row["value"],
            y,
            xerr=[[row["value"] - row["ci_low"]], [row["ci_high"] - row["value"]]],
            fmt="o",
            color=colour,
            capsize=3,
        )
    if len(usual):
        ax.axvline(float(usual.iloc[0]), color="grey", linestyle=":", label="usual care")
    ax.set_yticks(positions)
    ax.set_yticklabels(names)
    ax.set_xlabel("expected remission rate (95% CI)")
    ax.set_xlim(0, 1)
    figure.tight_layout()
    return to_data_uri(figure)
