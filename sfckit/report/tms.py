"""The report's section on individual rTMS targets (from ``tms/``)."""

from __future__ import annotations

from sfckit.declarations import layout
from sfckit.features.tms import NOTICE
from sfckit.io.tables import read_tsv
from sfckit.report import apa, blocks
from sfckit.report.context import Blocks, ReportContext
from sfckit.report.tables import display_table

MAX_FIGURES = 12


def target_figure(map_path, target: tuple[float, float, float], title: str) -> str:
    """Sagittal and axial cuts of a seed-correlation map through the target, marked."""
    from nilearn import plotting

    from sfckit.report.figures import plt, to_data_uri

    figure = plt.figure(figsize=(5.0, 2.4))
    display = plotting.plot_stat_map(
        str(map_path),
        cut_coords=(target[0], target[2]),
        display_mode="xz",
        cmap="cold_hot",
        colorbar=True,
        title=title,
        figure=figure,
    )
    display.add_markers([list(target)], marker_color="lime", marker_size=60)
    return to_data_uri(figure)


def tms_blocks(context: ReportContext) -> Blocks | None:
    """Notice, reliability summary, target table and per-participant cuts, or None when
    the step did not run."""
    results = context.layout
    folder = results.tms
    if not (folder / layout.TMS_TARGETS).is_file():
        return None
    targets = read_tsv(folder / layout.TMS_TARGETS)
    reliable = int(targets["reliable"].sum())
    parameters = context.parameters(folder)
    threshold = parameters.get("reliable_distance", "the stated")
    content = [
        blocks.text(NOTICE),
        blocks.text(
            "Each participant's target is the centre of the left-DLPFC cluster most "
            "anticorrelated with the subgenual ACC (Fox et al. 2012). Repeating the search on "
            f"each half of the run, {reliable} of {len(targets)} targets landed within "
            f"{threshold} mm of each other; the others are unreliable and should not be used "
            "as given."
        ),
        blocks.table(
            display_table(
                targets,
                [
                    "participant_id",
                    "x",
                    "y",
                    "z",
                    "correlation",
                    "distance_fox2012",
                    "distance_ba9",
                    "distance_ba46",
                    "distance_five_cm",
                    "split_half_distance",
                    "reliable",
                ],
            ),
            "Individual targets (MNI mm) and their distances (mm) to the reference sites",
        ),
    ]
    shown = targets.head(MAX_FIGURES)
    content.append(
        blocks.figures(
            [
                (
                    target_figure(
                        folder / row["map"],
                        (row["x"], row["y"], row["z"]),
                        str(row["participant_id"]),
                    ),
                    f"{row['participant_id']}: seed correlation in the search region; target "
                    f"({apa.number(row['x'], 0)}, {apa.number(row['y'], 0)}, "
                    f"{apa.number(row['z'], 0)})" + ("" if row["reliable"] else " — unreliable"),
                )
                for _, row in shown.iterrows()
                if row["x"] == row["x"]  # a target was found (not NaN)
            ]
        )
    )
    return content


def tms_methods(context: ReportContext) -> list[str] | None:
    """The individual rTMS target definition."""
    parameters = context.parameters(context.layout.tms)
    if not parameters or not (context.layout.tms / layout.TMS_TARGETS).is_file():
        return None
    seed = ", ".join(f"{v:g}" for v in parameters["seed_coordinate"])
    return [
        "Per participant, the left dorsolateral prefrontal spot most anticorrelated with a "
        f"{parameters['seed_radius']:g}-mm subgenual cingulate sphere at MNI ({seed}) was "
        f"taken as the rTMS target{context.cite('fox', 'cash')}: the strongest "
        f"{parameters['fraction']:.0%} of the search region formed clusters whose largest "
        "gave the target; targets of the run's two halves closer than "
        f"{parameters['reliable_distance']:g} mm were called reliable."
    ]


def tms_results(context: ReportContext) -> list[str] | None:
    """How many targets were found and how many are reliable."""

    path = context.layout.tms / layout.TMS_TARGETS
    if not path.is_file():
        return None
    targets = read_tsv(path)
    reliable = int(targets["reliable"].sum())
    parameters = context.parameters(context.layout.tms)
    return [
        f"Targets were found for {apa.count(len(targets), 'participant')}; {reliable} of them "
        f"were reliable (the two halves' targets within "
        f"{parameters.get('reliable_distance', 10):g} mm)."
    ]
