"""Command-line interface: argument parsing only; each verb calls one library function.

User errors print one line (``sfckit: error: ...``) and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from sfckit import __version__
from sfckit.errors import EXIT_USER_ERROR, UserError


def _simulate(args: argparse.Namespace) -> None:
    from sfckit.simulate.cohort import SimulationSettings, simulate_cohort

    settings = SimulationSettings(
        seed=args.seed,
        n_trd=args.n_trd,
        n_ntrd=args.n_ntrd,
        n_hc=args.n_hc,
        kind=args.kind,
        resolution=args.resolution,
        n_volumes=args.volumes,
    )
    manifest = simulate_cohort(args.out, settings, jobs=args.jobs, progress=not args.quiet)
    print(f"manifest: {manifest}")
    print(f"planted effects: {Path(args.out) / 'truth.json'}")


def _extract(args: argparse.Namespace) -> None:
    from sfckit.features.extract import ExtractionParameters, extract_cohort
    from sfckit.io.atlases import load_atlas
    from sfckit.io.manifest import read_manifest

    parameters = ExtractionParameters(
        method=args.method,
        min_voxels=args.min_voxels,
        gm_threshold=args.gm_threshold,
        band=tuple(args.band),
        gm_mask=args.gm_mask,
    ).validate()
    cohort = read_manifest(args.manifest)
    atlas = load_atlas(args.atlas, args.atlas_labels)
    extract_cohort(
        cohort,
        args.out,
        atlas=atlas,
        parameters=parameters,
        jobs=args.jobs,
        progress=not args.quiet,
    )
    print(f"features: {Path(args.out) / 'sfc.tsv'} (and gmv.tsv, alff.tsv, regions.tsv)")


def _demo(args: argparse.Namespace) -> None:
    from sfckit.demo import run_demo
    from sfckit.simulate.cohort import SimulationSettings

    result = run_demo(
        args.out,
        settings=SimulationSettings(seed=args.seed),
        jobs=args.jobs,
        progress=not args.quiet,
    )
    print(f"demo cohort: {result.manifest}")
    for step, folder in result.steps.items():
        print(f"{step}: {folder}")
    print(f"results are in {result.out_dir.resolve()}")


def build_parser() -> argparse.ArgumentParser:
    """The ``sfckit`` argument parser."""
    from sfckit.features.alff import DEFAULT_BAND
    from sfckit.features.coupling import DEFAULT_METHOD, DEFAULT_MIN_VOXELS, METHODS
    from sfckit.features.extract import DEFAULT_GM_THRESHOLD

    parser = argparse.ArgumentParser(
        prog="sfckit", description="Regional structure-function coupling (GMV-ALFF) studies."
    )
    parser.add_argument("--version", action="version", version=f"sfckit {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--jobs", type=int, default=1, help="worker processes (-1: all cores)")
        sub.add_argument("--quiet", action="store_true", help="no progress bar")

    sim = verbs.add_parser("simulate", help="write a synthetic cohort with planted effects")
    sim.add_argument("--out", required=True, type=Path)
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--n-trd", type=int, default=72)
    sim.add_argument("--n-ntrd", type=int, default=154)
    sim.add_argument("--n-hc", type=int, default=84)
    sim.add_argument("--kind", choices=("alff", "bold"), default="alff")
    sim.add_argument("--resolution", type=float, default=3.0, help="voxel size in mm")
    sim.add_argument("--volumes", type=int, default=120, help="BOLD volumes (--kind bold)")
    common(sim)
    sim.set_defaults(handler=_simulate)

    ext = verbs.add_parser("extract", help="regional SFC, GMV and ALFF per participant")
    ext.add_argument("--manifest", required=True, type=Path)
    ext.add_argument("--out", required=True, type=Path)
    ext.add_argument(
        "--atlas", default="harvard-oxford", help="'harvard-oxford' or the path of a label image"
    )
    ext.add_argument("--atlas-labels", type=Path, help="TSV with columns index, name")
    ext.add_argument("--method", default=DEFAULT_METHOD, choices=sorted(METHODS))
    ext.add_argument("--min-voxels", type=int, default=DEFAULT_MIN_VOXELS)
    ext.add_argument("--gm-threshold", type=float, default=DEFAULT_GM_THRESHOLD)
    ext.add_argument("--gm-mask", help="optional gray-matter mask image")
    ext.add_argument(
        "--band",
        type=float,
        nargs=2,
        default=list(DEFAULT_BAND),
        metavar=("LOW", "HIGH"),
        help="ALFF band in Hz",
    )
    common(ext)
    ext.set_defaults(handler=_extract)

    demo = verbs.add_parser("demo", help="simulate the built-in cohort and run every step")
    demo.add_argument("--out", type=Path, default=Path("sfckit-demo"))
    demo.add_argument("--seed", type=int, default=0)
    common(demo)
    demo.set_defaults(handler=_demo)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"sfckit: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    warnings.showwarning = _show_warning
    try:
        args.handler(args)
    except UserError as error:
        print(f"sfckit: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("sfckit: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
