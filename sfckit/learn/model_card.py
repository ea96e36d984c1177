"""The model card written beside a trained model (``MODEL.card.md``).

It says what the model is for and not for, whom it was trained on, how well it did in
cross-validation (when ``--performance`` gave the numbers), its limitations and the input
it expects, from the model's own metadata; nothing in it is claimed beyond those files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd


def card_path(model_path: Path) -> Path:
    """Where the card of ``model_path`` lives."""
    return model_path.with_name(model_path.name + ".card.md")


def _population(clinical: pd.DataFrame) -> list[str]:
    lines = []
    for column in ("age", "sex", "site"):
        if column not in clinical.columns:
            continue
        values = clinical[column]
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.notna().all():
            lines.append(
                f"- {column}: mean {numeric.mean():.1f} (SD {numeric.std():.1f}), "
                f"range {numeric.min():g}-{numeric.max():g}"
            )
        else:
            counts = values.astype(str).value_counts()
            lines.append(f"- {column}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return lines


def _performance(performance: dict[str, Any] | None, model: str) -> list[str]:
    if not performance:
        return [
            "Not given: train was run without `--performance`. Quote the nested "
            "cross-validation (`sfckit classify` or `benchmark`) of the same settings, never "
            "the inner-CV score below, which tuned the model."
        ]
    if "models" in performance:  # benchmark.json
        rows = [m for m in performance["models"] if m.get("model") in ("imaging", model)]
        rows = rows or performance["models"]
        return [
            f"- {m['model']}: AUC {m['auc']:.3f} [{m['auc_ci_low']:.3f}, {m['auc_ci_high']:.3f}]"
            f", calibration intercept {m.get('calibration_intercept', float('nan')):.2f}, "
            f"slope {m.get('calibration_slope', float('nan')):.2f}"
            for m in rows
        ]
    return [
        f"- AUC {performance['auc']:.3f} [{performance['auc_ci_low']:.3f}, "
        f"{performance['auc_ci_high']:.3f}] (pooled out-of-fold, nested CV "
        f"{performance.get('outer')} x {performance.get('repeats')}), permutation p "
        f"{performance.get('perm_p')}"
    ]


def _external(performance: dict[str, Any] | None) -> bool:
    settings = (performance or {}).get("settings", {})
    return bool(
        settings.get("validation") == "leave-site-out"
        or settings.get("train_on")
        or settings.get("test_on")
    )


def _sample_size(performance: dict[str, Any] | None, model: str) -> str:
    """The sample-size verdict of the quoted performance (classify or benchmark)."""
    verdicts = (performance or {}).get("sample_size")
    if isinstance(verdicts, list):  # benchmark.json: one per model
        verdicts = next((v for v in verdicts if v.get("model") in ("imaging", model)), None)
    if not verdicts:
        return "not assessed (no `--performance` with a sample-size verdict was given)."
    return verdicts["sentence"]


def _conformal(metadata: dict[str, Any]) -> str:
    record = metadata.get("conformal")
    if not record:
        return "none: trained without `--conformal-fraction`, so `score` gives no sets."
    from sfckit.learn.conformal import calibrated_sites

    labels = record["labels"]
    own = sorted(calibrated_sites(record))
    sites = (
        f" Sites with their own calibration: {', '.join(own)}; participants of any other site "
        "get sets from the pooled calibration, without a coverage guarantee for their site."
        if own
        else " No site has its own calibration: every set comes from the pooled calibration."
    )
    return (
        f"{len(labels)} participants ({sum(labels)} {metadata['positive']}) held out of "
        "fitting to calibrate class-conditional conformal prediction sets; the counts and the "
        "population above are the fitted participants only." + sites
    )


def _inputs(metadata: dict[str, Any]) -> str:
    clinical = ", ".join(metadata.get("clinical") or [])
    imaging = (
        f"regional structure-function coupling ({metadata['method']}, atlas {metadata['atlas']})"
    )
    if not metadata.get("features"):
        return f"the clinical columns {clinical}"
    return f"{imaging} and the clinical columns {clinical}" if clinical else imaging


def model_card(metadata: dict[str, Any], clinical: pd.DataFrame) -> str:
    """The card's Markdown text."""
    performance = metadata.get("cross_validated_performance")
    features = metadata["features"]
    shown = ", ".join(features[:10]) + (
        f" and {len(features) - 10} more" if len(features) > 10 else ""
    )
    lines = [
        f"# Model card: {metadata['model']} for {metadata['positive']} vs {metadata['negative']}",
        "",
        "**Research use only: not for clinical decisions.**",
        "",
        "## Intended use",
        f"Estimating, for research, the probability of {metadata['positive']} rather than "
        f"{metadata['negative']} ({(metadata.get('target') or {}).get('definition', 'groups')})"
        f" from {_inputs(metadata)}. Not a diagnostic or treatment-selection tool; not for "
        "other populations, atlases, methods or preprocessing than those below.",
        "",
        "## Training population",
        f"- {metadata['positive']}: {metadata['n_positive']}, {metadata['negative']}: "
        f"{metadata['n_negative']}",
        *_population(clinical),
        "",
        "## Performance",
        *_performance(performance, metadata["model"]),
        f"- Inner-CV {metadata['inner_cv_scoring']} of the final tuning: "
        f"{metadata['inner_cv_score']:.3f} (optimistic: it chose the hyper-parameters)",
        f"- Decision threshold: {metadata['threshold']:.3f} ({metadata['threshold_rule']})",
        "",
        "## Limitations",
        "- External validation: "
        + (
            "sites were held out in the performance quoted above."
            if _external(performance)
            else "none; the model has not been tested on a site it was not trained on."
        ),
        f"- Sample size: {_sample_size(performance, metadata['model'])}",
        f"- Conformal calibration: {_conformal(metadata)}",
        "- Probabilities are calibrated to the training cohort's prevalence "
        f"({metadata['threshold']:.0%}); in a population with another base rate they need "
        "recalibration.",
        "- Participants whose features fall beyond the training range (±10 %) are flagged by "
        "`sfckit score`; their scores are extrapolations.",
        "",
        "## Input",
        f"- `sfckit extract` features: method {metadata['method']}, atlas "
        f"{metadata['atlas']}, {len(features)} regions: {shown or 'none'}",
        "- Clinical columns of the manifest: "
        + (", ".join(metadata.get("clinical") or []) or "none"),
        f"- Regions dropped at training for low coverage: "
        f"{', '.join(metadata.get('dropped_regions') or []) or 'none'}",
        f"- sfckit {metadata['sfckit_version']}; the model's SHA-256 is in the `.sha256` file",
        "",
    ]
    return "\n".join(lines)
