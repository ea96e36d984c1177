"""Command-line interface: argument parsing only; each verb calls one library function.

User errors print one line (``sfckit: error: ...``) and exit with status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
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
    from sfckit.features.parameters import SEARCHLIGHT
    from sfckit.features.searchlight import DEFAULT_RADIUS_MM
    from sfckit.io.atlases import load_atlas
    from sfckit.io.manifest import read_manifest

    parameters = ExtractionParameters(
        method=args.method,
        min_voxels=args.min_voxels,
        gm_threshold=args.gm_threshold,
        band=tuple(args.band),
        gm_mask=args.gm_mask,
        denoise=args.denoise,
        fd_threshold=args.fd_threshold,
        resample_to=args.resample_to,
        radius=(
            args.radius
            if args.radius is not None or args.method != SEARCHLIGHT
            else DEFAULT_RADIUS_MM
        ),
    ).validate()
    cohort = read_manifest(args.manifest)
    atlas = load_atlas(args.atlas, args.atlas_labels)
    log = (lambda line: None) if args.quiet else (lambda line: print(line, file=sys.stderr))
    tables = extract_cohort(
        cohort,
        args.out,
        atlas=atlas,
        parameters=parameters,
        jobs=args.jobs,
        progress=not args.quiet,
        keep_going=args.keep_going,
        scheduler=args.scheduler,
        log=log,
        exclude_qc=args.exclude_qc,
    )
    if len(tables["excluded"]):
        print(
            f"{len(tables['excluded'])} participant(s) excluded by --exclude-qc: see "
            f"{Path(args.out) / 'excluded.tsv'}"
        )
    if len(tables["failures"]):
        print(
            f"{len(tables['failures'])} participant(s) failed: see "
            f"{Path(args.out) / 'failures.tsv'}"
        )
    print(f"features: {Path(args.out) / 'sfc.tsv'} (and gmv.tsv, alff.tsv, regions.tsv)")


def _manifest(args: argparse.Namespace) -> None:
    from sfckit.io.discover import DiscoveryOptions, discover
    from sfckit.io.outputs import write_tsv

    options = DiscoveryOptions(
        task=args.task,
        space=args.space,
        resolution=args.res,
        run=args.run,
        gm=args.gm,
        alff_kind=args.alff_kind,
        fd_threshold=args.fd_threshold,
        drop_incomplete=args.drop_incomplete,
    )
    report = discover(
        args.participants,
        func_dir=args.func_derivatives,
        anat_dir=args.anat_derivatives,
        alff_dir=args.alff_derivatives,
        options=options,
    )
    write_tsv(report.manifest, args.out)
    for pid in report.dropped:
        why = (
            f"missing {', '.join(report.missing[pid])}"
            if pid in report.missing
            else f"{len(report.ambiguous[pid])} matching files"
        )
        print(f"left out {pid}: {why}", file=sys.stderr)
    print(
        f"manifest: {args.out} ({len(report.manifest)} participants); check it, then run "
        "sfckit extract"
    )


def _from_args(settings_class, args: argparse.Namespace, **overrides):
    """A settings dataclass filled from the same-named command-line options."""
    values = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(settings_class)
        if hasattr(args, f.name)
    }
    return settings_class(**{**values, **overrides})


def _names(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _stats(args: argparse.Namespace) -> None:
    from sfckit.stats.steps import run_group_stats

    if (args.features is None) == (args.maps is None):
        raise UserError(
            "stats needs exactly one of --features (regional table) and --maps (maps.tsv)",
            fix="give --features DIR/sfc.tsv, or --maps DIR/maps.tsv from a searchlight extract",
        )
    if args.maps is not None:
        _map_stats(args)
        return
    results = run_group_stats(
        args.features,
        args.manifest,
        args.out,
        groups=_names(args.groups),
        covariates=_names(args.covariates),
        alpha=args.alpha,
    )
    significant = int((results["group_stats"]["p_fdr"] < args.alpha).sum())
    print(f"{significant} region(s) differ between groups at FDR < {args.alpha}")
    print(
        f"statistics: {Path(args.out) / 'group_stats.tsv'} (and posthoc.tsv"
        + (", specificity.tsv)" if "specificity" in results else ")")
    )


def _map_stats(args: argparse.Namespace) -> None:
    from sfckit.io.atlases import load_atlas
    from sfckit.stats.maps import run_map_stats

    summary = run_map_stats(
        args.maps,
        args.manifest,
        args.out,
        atlas=load_atlas(args.atlas, args.atlas_labels),
        groups=_names(args.groups),
        covariates=_names(args.covariates),
        n_permutations=args.permutations,
        alpha=args.alpha,
        seed=args.seed,
        jobs=args.jobs,
    )
    print(
        f"{summary['n_significant_voxels_fwe']} voxel(s) in {summary['n_clusters']} cluster(s) "
        f"differ between groups (permutation FWE < {args.alpha}, F > "
        f"{summary['f_critical_fwe']:.2f})"
    )
    print(f"voxel-wise statistics: {Path(args.out) / 'clusters.tsv'} and maps/")


def _correlate(args: argparse.Namespace) -> None:
    from sfckit.stats.steps import run_correlations

    results = run_correlations(
        args.features,
        args.manifest,
        args.out,
        scores=_names(args.scores),
        within=_names(args.within),
        covariates=_names(args.covariates),
        method=args.method,
    )
    significant = int((results["correlations"]["p_fdr"] < 0.05).sum())
    print(f"{significant} region-score correlation(s) at FDR < 0.05")
    print(f"correlations: {Path(args.out) / 'correlations.tsv'} (and correlation_differences.tsv)")


def _replicate(args: argparse.Namespace) -> None:
    from sfckit.stats.steps import run_replication

    table = run_replication(args.a, args.b, args.out, alpha=args.alpha)
    replicated = table.groupby("region_a")["replicated"].any()
    print(f"{int(replicated.sum())} of {len(replicated)} significant region(s) replicated")
    print(f"replication: {Path(args.out) / 'replication.tsv'}")


def _select_k(text: str) -> int | str:
    if text in ("tune", "all"):
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid --select-k '{text}': use tune, all or a number of features"
        ) from None


def _classify(args: argparse.Namespace) -> None:
    from sfckit.learn.steps import ClassificationSettings, run_classification

    settings = _from_args(ClassificationSettings, args)
    metrics = run_classification(
        args.features,
        args.manifest,
        args.out,
        settings,
        jobs=args.jobs,
        progress=not args.quiet,
        scheduler=args.scheduler,
    )
    p_text = "n/a" if metrics["perm_p"] is None else f"{metrics['perm_p']:.3g}"
    print(
        f"{args.model} {args.positive} vs {args.negative}: AUC {metrics['auc']:.3f} "
        f"[{metrics['auc_ci_low']:.3f}, {metrics['auc_ci_high']:.3f}], "
        f"balanced accuracy {metrics['balanced_accuracy']:.3f}, permutation p {p_text}"
    )
    print(f"classification: {Path(args.out) / 'metrics.json'} (research use only)")


def _benchmark(args: argparse.Namespace) -> None:
    from sfckit.learn.benchmark import BenchmarkSettings, run_benchmark

    settings = _from_args(
        BenchmarkSettings,
        args,
        clinical=tuple(_names(args.clinical)),
        deconfound=tuple(_names(args.deconfound)),
        train_on=tuple(_names(args.train_on)),
        test_on=tuple(_names(args.test_on)),
        harmonize_covariates=tuple(_names(args.harmonize_covariates)),
    )
    result = run_benchmark(
        args.features,
        args.manifest,
        args.out,
        settings,
        jobs=args.jobs,
        progress=not args.quiet,
        scheduler=args.scheduler,
    )
    for row in result.summary.itertuples():
        print(f"{row.model}: AUC {row.auc:.3f} [{row.auc_ci_low:.3f}, {row.auc_ci_high:.3f}]")
    for row in result.comparisons.itertuples():
        print(f"{row.model_a} vs {row.model_b}: DeLong p {row.delong_p:.3g}, NRI {row.nri:.2f}")
    print(f"benchmark: {Path(args.out) / 'benchmark.tsv'} (research use only)")


def _train(args: argparse.Namespace) -> None:
    from sfckit.learn.export import train_model

    metadata = train_model(
        args.features,
        args.manifest,
        args.save,
        positive=args.positive,
        negative=args.negative,
        model=args.model,
        inner=args.inner,
        seed=args.seed,
        select_k=args.select_k,
        performance_path=args.performance,
    )
    print(
        f"model: {args.save} ({metadata['model']}, inner-CV AUC "
        f"{metadata['inner_cv_auc']:.3f}; research use only)"
    )


def _score(args: argparse.Namespace) -> None:
    from sfckit.learn.export import score_participants

    scores = score_participants(args.model, args.features, args.out)
    flagged = int(scores["outside_training_range"].sum())
    print(
        f"scores: {args.out} ({len(scores)} participants, {flagged} outside the training "
        "range; research use only, not for clinical decisions)"
    )


def _predict_outcome(args: argparse.Namespace) -> None:
    from sfckit.learn.outcome import OutcomeSettings, run_outcome_prediction

    settings = _from_args(
        OutcomeSettings,
        args,
        groups=tuple(_names(args.groups)),
        neuromodulation=tuple(_names(args.neuromodulation)),
    )
    metrics = run_outcome_prediction(
        args.features, args.manifest, args.out, settings, jobs=args.jobs, progress=not args.quiet
    )
    if args.target == "time-to-relapse":
        print(
            f"{args.target}: C-index {metrics['c_index']:.3f} [{metrics['c_index_ci_low']:.3f}, "
            f"{metrics['c_index_ci_high']:.3f}] ({metrics['n_relapses']} relapses among "
            f"{metrics['n_followed']})"
        )
    else:
        print(
            f"{args.target}: AUC {metrics['auc']:.3f} [{metrics['auc_ci_low']:.3f}, "
            f"{metrics['auc_ci_high']:.3f}], calibration slope {metrics['calibration_slope']:.2f}"
        )
    print(f"outcome prediction: {Path(args.out) / 'metrics.json'} (research use only)")


def _across_subject(args: argparse.Namespace) -> None:
    from sfckit.stats.steps import run_across_subject

    tables = run_across_subject(
        args.features_dir,
        args.manifest,
        args.out,
        groups=_names(args.groups) or None,
        n_permutations=args.permutations,
        seed=args.seed,
    )
    significant = int((tables["across_subject_differences"]["p_fdr"] < 0.05).sum())
    print(f"{significant} region x group-pair difference(s) at FDR < 0.05")
    print(f"across-subject coupling: {Path(args.out) / 'across_subject.tsv'}")


def _sensitivity(args: argparse.Namespace) -> None:
    from sfckit.stats.steps import run_sensitivity

    analyses = {}
    for item in args.stats:
        label, _, folder = item.partition("=")
        if not folder:
            raise UserError(
                f"invalid --stats '{item}'",
                expected="LABEL=FOLDER",
                fix="e.g. --stats correlation=out/stats-corr",
            )
        analyses[label] = folder
    run_sensitivity(analyses, args.out, regions=_names(args.regions) or None, alpha=args.alpha)
    print(f"sensitivity: {Path(args.out) / 'agreement.tsv'} and survival.tsv")


def _demo(args: argparse.Namespace) -> None:
    from sfckit.demo import run_demo
    from sfckit.simulate.cohort import SimulationSettings

    report = run_demo(
        args.out,
        settings=SimulationSettings(seed=args.seed),
        jobs=args.jobs,
        progress=not args.quiet,
    )
    print(f"results are in {Path(args.out).resolve()}")
    print(f"report: {report.resolve()}")


def _run(args: argparse.Namespace) -> None:
    from sfckit.study import run_study

    out = run_study(args.study, args.out, jobs=args.jobs, progress=not args.quiet)
    print(f"results are in {out.resolve()}")


def _report(args: argparse.Namespace) -> None:
    from sfckit.report.html import build_report

    report = build_report(args.results, args.out)
    print(f"report: {report.resolve()}")


def build_parser() -> argparse.ArgumentParser:
    """The ``sfckit`` argument parser."""
    from sfckit.features.alff import DEFAULT_BAND
    from sfckit.features.coupling import DEFAULT_METHOD, DEFAULT_MIN_VOXELS
    from sfckit.features.parameters import DEFAULT_GM_THRESHOLD, EXTRACTION_METHODS
    from sfckit.features.searchlight import DEFAULT_RADIUS_MM

    parser = argparse.ArgumentParser(
        prog="sfckit", description="Regional structure-function coupling (GMV-ALFF) studies."
    )
    parser.add_argument("--version", action="version", version=f"sfckit {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--jobs", type=int, default=1, help="worker processes (-1: all cores)")
        sub.add_argument("--quiet", action="store_true", help="no progress bar")

    def scheduler(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--scheduler", help="Dask: local-cluster or tcp://host:port")

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
        "--atlas", default="harvard-oxford", help="'harvard-oxford', 'aal' or a label image path"
    )
    ext.add_argument("--atlas-labels", type=Path, help="TSV with columns index, name")
    ext.add_argument("--method", default=DEFAULT_METHOD, choices=EXTRACTION_METHODS)
    ext.add_argument(
        "--radius",
        type=float,
        help=f"searchlight sphere radius in mm (--method searchlight; default "
        f"{DEFAULT_RADIUS_MM:g})",
    )
    ext.add_argument("--min-voxels", type=int, default=DEFAULT_MIN_VOXELS)
    ext.add_argument("--gm-threshold", type=float, default=DEFAULT_GM_THRESHOLD)
    ext.add_argument("--gm-mask", help="optional gray-matter mask image")
    ext.add_argument(
        "--denoise",
        default="none",
        choices=("none", "6P", "24P", "24P+2P"),
        help="nuisance regression with the fMRIPrep confounds (default: none)",
    )
    ext.add_argument(
        "--fd-threshold",
        type=float,
        help="censor volumes with framewise displacement above this (mm)",
    )
    ext.add_argument(
        "--resample-to",
        default="none",
        choices=("none", "functional"),
        help="resample GMV maps onto the functional grid (linear)",
    )
    ext.add_argument("--exclude-qc", help="e.g. 'mean_fd>0.5,n_nan_regions>=5,outlier'")
    ext.add_argument(
        "--keep-going",
        action="store_true",
        help="record participants with bad files in failures.tsv and go on",
    )
    ext.add_argument(
        "--band",
        type=float,
        nargs=2,
        default=list(DEFAULT_BAND),
        metavar=("LOW", "HIGH"),
        help="ALFF band in Hz",
    )
    common(ext)
    scheduler(ext)
    ext.set_defaults(handler=_extract)

    man = verbs.add_parser("manifest", help="build a manifest from fMRIPrep/CAT12/SPM/DPABI")
    man.add_argument("--participants", required=True, type=Path, help="participants.tsv")
    man.add_argument("--anat-derivatives", required=True, type=Path, help="CAT12 or SPM folder")
    man.add_argument("--func-derivatives", type=Path, help="fMRIPrep folder")
    man.add_argument("--alff-derivatives", type=Path, help="DPABI/DPARSF results folder")
    man.add_argument("--out", required=True, type=Path)
    man.add_argument("--task", default="rest")
    man.add_argument("--space", default="MNI152NLin2009cAsym")
    man.add_argument("--res", help="fMRIPrep res- entity, when several resolutions exist")
    man.add_argument("--run", help="run number, when several runs exist")
    man.add_argument("--gm", default="auto", choices=("auto", "cat12", "spm", "spm-smoothed"))
    man.add_argument("--alff-kind", default="raw", choices=("raw", "m", "z"))
    man.add_argument(
        "--fd-threshold",
        type=float,
        default=0.5,
        help="FD (mm) above which a volume counts as censored in n_censored",
    )
    man.add_argument(
        "--drop-incomplete",
        action="store_true",
        help="leave out participants with a missing or ambiguous file",
    )
    man.set_defaults(handler=_manifest)

    sta = verbs.add_parser("stats", help="group ANCOVA per region, post-hoc, specificity")
    sta.add_argument("--features", type=Path, help="regional table, e.g. DIR/sfc.tsv")
    sta.add_argument(
        "--maps", type=Path, help="voxel-wise instead: DIR/maps.tsv of a searchlight extract"
    )
    sta.add_argument("--manifest", required=True, type=Path)
    sta.add_argument("--out", required=True, type=Path)
    sta.add_argument("--groups", help="comma-separated, in contrast order (default: all)")
    sta.add_argument("--covariates", help="comma-separated manifest columns, e.g. age,sex")
    sta.add_argument("--alpha", type=float, default=0.05)
    sta.add_argument("--permutations", type=int, default=1000, help="--maps: permutations for FWE")
    sta.add_argument(
        "--atlas", default="harvard-oxford", help="--maps: atlas that labels the clusters"
    )
    sta.add_argument("--atlas-labels", type=Path, help="--maps: labels TSV of a custom atlas")
    sta.add_argument("--seed", type=int, default=0)
    common(sta)
    sta.set_defaults(handler=_stats)

    cor = verbs.add_parser("correlate", help="within-group partial correlations with scores")
    cor.add_argument("--features", required=True, type=Path)
    cor.add_argument("--manifest", required=True, type=Path)
    cor.add_argument("--scores", required=True, help="comma-separated score columns")
    cor.add_argument("--within", required=True, help="comma-separated groups")
    cor.add_argument("--covariates", help="comma-separated manifest columns")
    cor.add_argument("--method", choices=("pearson", "spearman"), default="pearson")
    cor.add_argument("--out", required=True, type=Path)
    cor.set_defaults(handler=_correlate)

    rep = verbs.add_parser("replicate", help="replication of significant regions across atlases")
    rep.add_argument("--a", required=True, type=Path, help="stats folder of atlas A")
    rep.add_argument("--b", required=True, type=Path, help="stats folder of atlas B")
    rep.add_argument("--out", required=True, type=Path)
    rep.add_argument("--alpha", type=float, default=0.05)
    rep.set_defaults(handler=_replicate)

    acr = verbs.add_parser("across-subject", help="group-level GMV-ALFF coupling per region")
    acr.add_argument("--features-dir", required=True, type=Path, help="folder with gmv/alff.tsv")
    acr.add_argument("--manifest", required=True, type=Path)
    acr.add_argument("--groups", help="comma-separated groups (default: all)")
    acr.add_argument("--permutations", type=int, default=1000)
    acr.add_argument("--seed", type=int, default=0)
    acr.add_argument("--out", required=True, type=Path)
    acr.set_defaults(handler=_across_subject)

    sen = verbs.add_parser("sensitivity", help="agreement of stats across methods/atlases")
    sen.add_argument("--stats", required=True, nargs="+", help="LABEL=STATS_FOLDER, 2 or more")
    sen.add_argument("--regions", help="regions to tabulate (default: the reference study's)")
    sen.add_argument("--alpha", type=float, default=0.05)
    sen.add_argument("--out", required=True, type=Path)
    sen.set_defaults(handler=_sensitivity)

    cls = verbs.add_parser("classify", help="nested cross-validated classification")
    cls.add_argument("--features", required=True, type=Path)
    cls.add_argument("--manifest", required=True, type=Path)
    cls.add_argument("--positive", required=True, help="group label of the positive class")
    cls.add_argument("--negative", required=True, help="group label of the negative class")
    cls.add_argument("--model", default="svm", help="svm, logistic or xgboost")
    cls.add_argument("--out", required=True, type=Path)
    cls.add_argument("--outer", type=int, default=5, help="outer folds")
    cls.add_argument("--repeats", type=int, default=10, help="repeats of the outer loop")
    cls.add_argument("--inner", type=int, default=5, help="inner (tuning) folds")
    cls.add_argument("--seed", type=int, default=0)
    cls.add_argument(
        "--permutations",
        type=int,
        default=1000,
        help="label permutations of the whole nested procedure (0: none)",
    )
    cls.add_argument(
        "--select-k",
        type=_select_k,
        default="tune",
        help="features kept by ANOVA-F selection: tune (default), all, or a number",
    )
    common(cls)
    scheduler(cls)
    cls.set_defaults(handler=_classify)

    ben = verbs.add_parser("benchmark", help="imaging vs clinical-only vs combined models")
    ben.add_argument("--features", required=True, type=Path)
    ben.add_argument("--manifest", required=True, type=Path)
    ben.add_argument("--positive", required=True)
    ben.add_argument("--negative", required=True)
    ben.add_argument("--clinical", required=True, help="comma-separated numeric columns")
    ben.add_argument("--model", default="svm", help="svm, logistic or xgboost (imaging models)")
    ben.add_argument("--out", required=True, type=Path)
    ben.add_argument("--outer", type=int, default=5)
    ben.add_argument("--repeats", type=int, default=10)
    ben.add_argument("--inner", type=int, default=5)
    ben.add_argument("--seed", type=int, default=0)
    ben.add_argument("--select-k", type=_select_k, default="tune")
    ben.add_argument("--deconfound", help="comma-separated confound columns")
    ben.add_argument("--site-column", help="manifest column naming the site/scanner")
    ben.add_argument("--validation", choices=("cv", "leave-site-out"), default="cv")
    ben.add_argument("--train-on", help="comma-separated sites to train on (external test)")
    ben.add_argument("--test-on", help="comma-separated sites to test on (external test)")
    ben.add_argument(
        "--harmonize", choices=("combat",), help="ComBat inside the training folds (needs a site)"
    )
    ben.add_argument(
        "--harmonize-covariates", help="comma-separated columns ComBat preserves (e.g. age,sex)"
    )
    ben.add_argument(
        "--unseen-site",
        choices=("error", "reference"),
        default="error",
        help="a test site absent from training: stop, or map it onto the training sites",
    )
    common(ben)
    scheduler(ben)
    ben.set_defaults(handler=_benchmark)

    out = verbs.add_parser("predict-outcome", help="predict treatment response or remission")
    out.add_argument("--features", required=True, type=Path)
    out.add_argument("--manifest", required=True, type=Path)
    out.add_argument(
        "--target",
        required=True,
        choices=("response", "remission", "neuromodulation", "relapse", "time-to-relapse"),
    )
    out.add_argument("--baseline", default="hamd", help="baseline HAMD column")
    out.add_argument("--post", default="hamd_post", help="post-treatment HAMD column")
    out.add_argument("--response-fraction", type=float, default=0.5)
    out.add_argument("--remission-cutoff", type=float, default=7.0)
    out.add_argument("--time-column", default="relapse_months", help="follow-up months")
    out.add_argument("--event-column", default="relapsed", help="1 = relapse, 0 = censored")
    out.add_argument(
        "--horizon", type=float, default=12.0, help="months for --target relapse (binary)"
    )
    out.add_argument("--treatment-column", default="treatment")
    out.add_argument(
        "--neuromodulation",
        default="rTMS,iTBS,tDCS,ECT",
        help="treatment names counted as neuromodulation",
    )
    out.add_argument("--groups", help="comma-separated groups to include (default: all)")
    out.add_argument("--model", default="logistic")
    out.add_argument("--out", required=True, type=Path)
    out.add_argument("--outer", type=int, default=5)
    out.add_argument("--repeats", type=int, default=10)
    out.add_argument("--inner", type=int, default=5)
    out.add_argument("--seed", type=int, default=0)
    out.add_argument("--select-k", type=_select_k, default="tune")
    common(out)
    out.set_defaults(handler=_predict_outcome)

    tra = verbs.add_parser("train", help="fit and save the final model (skops)")
    tra.add_argument("--features", required=True, type=Path)
    tra.add_argument("--manifest", required=True, type=Path)
    tra.add_argument("--positive", required=True)
    tra.add_argument("--negative", required=True)
    tra.add_argument("--model", default="svm")
    tra.add_argument("--save", required=True, type=Path, help="e.g. model.skops")
    tra.add_argument("--inner", type=int, default=5)
    tra.add_argument("--seed", type=int, default=0)
    tra.add_argument("--select-k", type=_select_k, default="tune")
    tra.add_argument(
        "--performance", type=Path, help="metrics.json or benchmark.json to store with the model"
    )
    tra.set_defaults(handler=_train)

    sco = verbs.add_parser("score", help="score new participants with a saved model")
    sco.add_argument("--model", required=True, type=Path)
    sco.add_argument("--features", required=True, type=Path)
    sco.add_argument("--out", required=True, type=Path)
    sco.set_defaults(handler=_score)

    run = verbs.add_parser("run", help="run a whole study from a study file (YAML)")
    run.add_argument("study", type=Path)
    run.add_argument("--out", type=Path, help="output folder (default: the study's 'output')")
    common(run)
    run.set_defaults(handler=_run)

    rep_html = verbs.add_parser("report", help="write the HTML report of a results folder")
    rep_html.add_argument("--results", required=True, type=Path)
    rep_html.add_argument("--out", type=Path, help="default: RESULTS/report.html")
    rep_html.set_defaults(handler=_report)

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
