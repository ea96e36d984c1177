"""``normative``: deviation scores from a normative model of the controls, per region.

Writes ``deviations.tsv`` (participants x regions, the format of ``sfc.tsv``, so it can be
a feature table for ``classify`` and ``benchmark --deviations``), ``normative_fit.tsv``
(held-out controls' z per region: mean and SD, the model's calibration),
``extreme_regions.tsv`` and ``extreme_participants.tsv`` (|z| > 2.6) and, with the atlas
image beside the features, one deviation map per participant (``deviation_maps/``).
Controls' own deviations come from models fitted without them (K folds); everyone else's
from the model of all fitted controls.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sfckit.declarations import layout
from sfckit.declarations.settings import NormativeSettings
from sfckit.lazy import lazy_function
from sfckit.report.context import Prose, Section
from sfckit.steps.base import (
    FEATURES,
    OUT_FOLDER,
    SERIAL,
    Execution,
    PathOption,
    Step,
    StudyRole,
    staged,
)
from sfckit.steps.plan import Planner


def _covariates(clinical: Any, settings: NormativeSettings, source: str) -> tuple:
    import numpy as np

    from sfckit.errors import UserError
    from sfckit.stats.design import numeric_column

    for column in (settings.age_column, settings.sex_column):
        if column not in clinical.columns:
            raise UserError(
                f"{source}: column '{column}' does not exist",
                fix=f"name the column with --{'age' if column == settings.age_column else 'sex'}"
                "-column",
            )
    age = numeric_column(
        clinical, settings.age_column, source=source, label="age", fix="correct the age"
    ).to_numpy(float)
    sex = clinical[settings.sex_column].astype(str).str.upper().str[:1].to_numpy()
    if settings.site_column is None:
        site = np.full(len(clinical), "all")
    elif settings.site_column not in clinical.columns:
        raise UserError(
            f"{source}: site column '{settings.site_column}' does not exist",
            fix="name it with --site-column",
        )
    else:
        site = clinical[settings.site_column].astype(str).to_numpy()
    return age, sex, site


@staged
def run(
    inputs: Mapping[str, Any],
    out_dir: str | Path,
    settings: NormativeSettings,
    execution: Execution = SERIAL,
) -> dict[str, Any]:
    """Fit the normative model on the controls of ``inputs["manifest"]`` and score everyone.

    Returns
    -------
    dict
        ``deviations`` (DataFrame) and the tables written.
    """
    import numpy as np
    import pandas as pd

    from sfckit.errors import UserError
    from sfckit.io.outputs import write_tsv
    from sfckit.learn.normative import EXTREME_Z, NormativeModel, held_out_control_z
    from sfckit.steps.common import write_dropped, write_provenance
    from sfckit.steps.stats import aligned

    features_path, manifest_path = Path(inputs["features"]), Path(inputs["manifest"])
    out_dir = Path(out_dir)
    features, clinical, dropped = aligned(features_path, manifest_path, settings)
    source = str(manifest_path)
    age, sex, site = _covariates(clinical, settings, source)
    groups = clinical["group"].astype(str).to_numpy()
    known = np.isfinite(age) & (sex != "N")
    is_control = (groups == settings.controls) & known
    transfer = np.isin(site, settings.transfer_sites)
    fitted = is_control & ~transfer
    if fitted.sum() < settings.folds * settings.min_site_controls:
        raise UserError(
            f"{source}: {int(fitted.sum())} '{settings.controls}' control(s) with age and sex to "
            "fit the normative model",
            expected=f"at least {settings.folds * settings.min_site_controls}",
            fix="check --controls, or lower --folds / --min-site-controls",
        )
    Y = features.to_numpy(float)
    options = {"n_knots": settings.n_knots, "min_site_controls": settings.min_site_controls}
    model = NormativeModel(**options).fit(Y[fitted], age[fitted], sex[fitted], site[fitted])
    for name in settings.transfer_sites:
        at = is_control & (site == name)
        model.transfer(name, Y[at], age[at], sex[at])
    z = np.full(Y.shape, np.nan)
    scored = known & ~fitted
    z[scored] = model.z_scores(Y[scored], age[scored], sex[scored], site[scored])
    z[fitted] = held_out_control_z(
        Y[fitted],
        age[fitted],
        sex[fitted],
        site[fitted],
        n_folds=settings.folds,
        seed=settings.seed,
        **options,
    )
    regions = list(features.columns)
    deviations = pd.DataFrame(z, index=features.index, columns=regions)
    calibration = pd.DataFrame(
        {
            "region": regions,
            "controls_z_mean": np.nanmean(z[fitted], axis=0),
            "controls_z_sd": np.nanstd(z[fitted], axis=0, ddof=1),
            "n_controls": np.sum(np.isfinite(z[fitted]), axis=0),
        }
    )
    extreme = np.abs(z) > EXTREME_Z
    per_region = []
    for group in dict.fromkeys(groups):
        members = groups == group
        per_region.append(
            pd.DataFrame(
                {
                    "region": regions,
                    "group": group,
                    "n": np.sum(np.isfinite(z[members]), axis=0),
                    "n_extreme_low": np.sum(z[members] < -EXTREME_Z, axis=0),
                    "n_extreme_high": np.sum(z[members] > EXTREME_Z, axis=0),
                    "mean_z": np.nanmean(z[members], axis=0),
                }
            )
        )
    participants = pd.DataFrame(
        {
            "participant_id": features.index,
            "group": groups,
            "site": site,
            "n_extreme_low": np.sum(z < -EXTREME_Z, axis=1),
            "n_extreme_high": np.sum(z > EXTREME_Z, axis=1),
            "n_extreme": extreme.sum(axis=1),
        }
    )
    write_tsv(deviations.reset_index(), out_dir / layout.DEVIATIONS)
    write_tsv(calibration, out_dir / layout.NORMATIVE_FIT)
    write_tsv(pd.concat(per_region, ignore_index=True), out_dir / layout.EXTREME_REGIONS)
    write_tsv(participants, out_dir / layout.EXTREME_PARTICIPANTS)
    write_dropped(dropped, out_dir)
    _deviation_maps(features_path.parent, out_dir, deviations)
    write_provenance(
        out_dir,
        "normative",
        settings,
        [features_path, manifest_path],
        method={
            "model": "BayesianRidge per region on a natural cubic spline of age, sex and site "
            "(fixed offsets), site-specific residual scale; controls' z held out by K folds",
            "extreme": f"|z| > {EXTREME_Z}",
        },
    )
    return {"deviations": deviations, "calibration": calibration, "participants": participants}


def _deviation_maps(features_dir: Path, out_dir: Path, deviations: Any) -> None:
    """One NIfTI per participant painting each region's z on the atlas (when present)."""
    import nibabel as nib
    import numpy as np

    from sfckit.io.images import load_image
    from sfckit.io.outputs import save_nifti
    from sfckit.io.tables import read_table

    atlas_path, regions_path = features_dir / layout.ATLAS_IMAGE, features_dir / layout.REGIONS
    if not (atlas_path.is_file() and regions_path.is_file()):
        return
    image = load_image(atlas_path, ndim=3, role="atlas")
    labels = np.asarray(image.dataobj).astype(np.int64)
    table = read_table(regions_path, required=["index", "name"], what="region table")
    index = dict(zip(table["name"].astype(str), table["index"].astype(int), strict=True))
    lookup_size = int(labels.max()) + 1
    for pid, row in deviations.iterrows():
        lookup = np.zeros(lookup_size, dtype=np.float32)
        for region, value in row.items():
            if np.isfinite(value) and index.get(str(region), lookup_size) < lookup_size:
                lookup[index[str(region)]] = value
        save_nifti(
            nib.Nifti1Image(lookup[labels], image.affine),
            out_dir / layout.DEVIATION_MAPS / f"{pid}_desc-deviation_z.nii.gz",
        )


def summary(result: dict[str, Any], settings: NormativeSettings, out: Path) -> list[str]:
    """What the command line prints."""
    calibration = result["calibration"]
    return [
        f"held-out controls: z mean {calibration['controls_z_mean'].mean():+.2f}, SD "
        f"{calibration['controls_z_sd'].mean():.2f} (averaged over regions)",
        f"deviations: {out / layout.DEVIATIONS} (and {layout.EXTREME_REGIONS}, "
        f"{layout.EXTREME_PARTICIPANTS}, {layout.DEVIATION_MAPS}/)",
    ]


def plan(planner: Planner, step: Step, runs: list[NormativeSettings]) -> None:
    """Once, on the primary features; the benchmark may use its deviations."""
    planner.add(step.name, step, planner.features, planner.results.normative, runs[0])
    planner.produced["deviations"] = planner.results.normative / layout.DEVIATIONS


STEP = Step(
    name="normative",
    help="deviations from a normative model of the controls (age, sex, site)",
    settings=NormativeSettings,
    inputs=(FEATURES, PathOption("manifest", "the manifest (groups, age, sex, site)")),
    output=OUT_FOLDER,
    outputs=(layout.DEVIATIONS, layout.NORMATIVE_FIT, layout.DESCRIPTION),
    run=run,
    summary=summary,
    study=StudyRole(plan),
    sections=(
        Section(
            "normative",
            "Deviations from the controls' norm",
            lazy_function("sfckit.report.normative:normative_blocks"),
            "normative/normative_fit.tsv",
        ),
    ),
    methods=Prose("Normative model", lazy_function("sfckit.report.normative:normative_methods")),
    results=Prose(
        "Normative deviations", lazy_function("sfckit.report.normative:normative_results")
    ),
)
