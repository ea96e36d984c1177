"""``searchlight`` (a study-file section, no verb of its own): searchlight coupling maps,
extracted with the ``extract`` section's other settings, and their voxel-wise statistics,
tested with the ``stats`` section's settings (``sfckit extract --method searchlight`` and
``sfckit stats --maps`` do the same from the command line)."""

from __future__ import annotations

from sfckit.declarations import layout
from sfckit.declarations.settings import SearchlightSettings, StatsSettings
from sfckit.lazy import lazy_function
from sfckit.report.context import Prose, Section
from sfckit.steps.base import OUT_FOLDER, Step, StudyRole
from sfckit.steps.plan import Planner


def plan(planner: Planner, step: Step, runs: list[SearchlightSettings]) -> None:
    """Maps on the primary atlas's grid (resumed per participant), then the map statistics."""
    extract, stats = planner.steps["extract"], planner.steps["stats"]
    maps = planner.results.features(layout.SEARCHLIGHT)
    maps_settings = (planner.one("extract") or extract.settings()).updated(
        method="searchlight", radius=runs[0].radius
    )
    atlas = planner.atlas_inputs(planner.atlases[0])
    planner.add(
        "searchlight-maps",
        extract,
        {"manifest": planner.manifest, **atlas},
        maps,
        maps_settings,
        resumable=True,
    )
    planner.add(
        "searchlight-stats",
        stats,
        {"maps": maps / layout.MAPS, "manifest": planner.manifest, **atlas},
        planner.results.stats(layout.SEARCHLIGHT),
        planner.one("stats") or StatsSettings(),
        outputs=layout.MAP_STATS_FILES,
    )


STEP = Step(
    name="searchlight",
    help="searchlight maps and their voxel-wise statistics (study file only)",
    settings=SearchlightSettings,
    inputs=(),
    output=OUT_FOLDER,
    outputs=layout.MAP_STATS_FILES,
    run=None,
    summary=None,
    study=StudyRole(plan),
    sections=(
        Section(
            "searchlight",
            "Where does coupling differ? Searchlight maps",
            lazy_function("sfckit.report.searchlight:searchlight_blocks"),
            "stats/searchlight/map_stats.json",
        ),
    ),
    methods=Prose(
        "Searchlight maps", lazy_function("sfckit.report.searchlight:searchlight_methods")
    ),
    results=Prose(
        "Searchlight maps", lazy_function("sfckit.report.searchlight:searchlight_results")
    ),
    verb=False,
)
