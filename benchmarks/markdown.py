"""Writes benchmarks/RESULTS.md from one run's results: a note of the machine, then one
section per target with its numbers and, where an issue set one, the target and whether
this run met it. Nothing in the file is typed by hand."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import sys
from pathlib import Path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / 2**20:.0f} GiB"
    except OSError:
        pass
    return "unknown memory"


def machine_note(command: list[str]) -> str:
    """Date, machine, Python and the versions that matter to the timings."""
    versions = []
    for package in ("sfckit", "numpy", "scipy", "nibabel", "isal", "scikit-learn", "joblib"):
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{package} absent")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"Written by `{' '.join(command)}` on {datetime.date.today().isoformat()} (each "
        "section's date is when it was measured): "
        f"{cores} cores ({_cpu_model()}), {_memory_gib()}, {platform.system()} "
        f"{platform.release()}, Python {sys.version.split()[0]}; {', '.join(versions)}. "
        "Every ratio compares two measurements of the same run; the host is shared, so "
        "absolute times drift by 10-20 % between runs."
    )


def _table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _verdict(met: bool) -> str:
    return "met" if met else "**not met**"


def _extraction(r: dict) -> str:
    shape = "×".join(str(s) for s in r["bold_shape"])
    return "\n\n".join(
        [
            f"One 2 mm participant ({shape} float32, {r['uncompressed_mb']:,} MB uncompressed, "
            f"{r['bold_gz_mb']:,} MB gzipped; Rayleigh noise outside the brain as in an "
            "unmasked run), each command a whole process, best of 5, alternating.",
            _table(
                ["command", "seconds", "peak RSS (MB)"],
                [
                    [
                        "`python -c 'np.asarray(nib.load(bold).dataobj)'` (baseline)",
                        r["nibabel_load_seconds"],
                        f"{r['nibabel_load_peak_rss_mb']:,.0f}",
                    ],
                    [
                        "`sfckit extract` of a one-participant manifest",
                        r["sfckit_extract_seconds"],
                        f"{r['sfckit_extract_peak_rss_mb']:,.0f}",
                    ],
                ],
            ),
            f"Time ratio {r['time_ratio']} (target ≤ 0.8: {_verdict(r['time_ratio'] <= 0.8)}); "
            f"peak RSS {r['rss_ratio_extract_over_uncompressed']} × the uncompressed run "
            f"(target ≤ 0.5: {_verdict(r['rss_ratio_extract_over_uncompressed'] <= 0.5)}).",
        ]
    )


def _kernel(r: dict) -> str:
    return (
        f"`sfckit.features.alff` on {r['voxels']:,} voxels × 240 volumes: "
        f"{r['kernel_voxels_per_second']:,} voxels/s vs {r['scipy_loop_voxels_per_second']:,} "
        f"for a per-voxel `scipy.signal.periodogram` loop (**{r['speedup']}×**), in one process."
    )


def _kl(r: dict) -> str:
    speedup = r["speedup"]
    return (
        f"One participant, {r['voxels']:,} voxels in {r['regions']} regions: exact "
        f"`scipy.stats.gaussian_kde` version {r['exact_kde_seconds']} s, sfckit "
        f"{r['sfckit_seconds']} s (**{speedup}×**, target ≥ 10×: {_verdict(speedup >= 10)}); "
        f"largest difference {r['max_abs_difference']:.1e} (target ≤ 1e-3: "
        f"{_verdict(r['max_abs_difference'] <= 1e-3)})."
    )


def _scaling(r: dict) -> str:
    rows = [
        [
            f"{row['participants']:,}",
            row["seconds_1_worker"],
            row["seconds_2_workers_cold"],
            row["seconds_2_workers_warm"],
            f"{row['speedup_2_workers_cold']} ({row['speedup_2_workers_cold_paired_median']})",
            f"{row['speedup_2_workers_warm']} ({row['speedup_2_workers_warm_paired_median']})",
            row["read_speedup_2_processes"],
        ]
        for row in r["sizes"]
    ]
    text = [
        "Extraction of simulated 6 mm BOLD cohorts (120 volumes, block atlas) inside one "
        "Python process (the workers are processes); best of 3-5, paired = median ratio to "
        "the 1-worker run beside it. Cold starts the 2 workers inside the timing.",
        _table(
            [
                "participants",
                "1 worker (s)",
                "2 workers cold (s)",
                "2 workers warm (s)",
                "speed-up cold (paired)",
                "speed-up warm (paired)",
                "ceiling: 2 processes reading the same files",
            ],
            rows,
        ),
    ]
    fitted = r.get("per_participant") or {}
    if fitted:
        modes = ("1_worker", "2_workers_cold", "2_workers_warm")
        text.append(
            f"Per participant (least squares): {fitted['1_worker']['ms_per_participant']} ms "
            f"with 1 worker, {fitted['2_workers_warm']['ms_per_participant']} ms with 2 warm "
            f"(speed-up {fitted['speedup_per_participant_warm']}, cold "
            f"{fitted['speedup_per_participant_cold']}); R² "
            f"{min(fitted[mode]['r_squared'] for mode in modes)}"
            " or more, so time is linear in participants. One worker already hashes each run "
            "on a helper thread (part of a second core), which lowers the 2-worker ratio; "
            "compare the absolute per-participant times with benchmarks/HISTORY.md."
        )
    ceiling = r.get("parallel_ceiling")
    if ceiling:
        text.append(
            f"A CPU-only stand-in task of {ceiling['task_ms']} ms gains "
            f"{ceiling['speedup_2_processes']}× on 2 processes on this machine."
        )
    return "\n\n".join(text)


def _searchlight(r: dict) -> str:
    s, m = r["searchlight"], r["map_statistics"]
    return "\n\n".join(
        [
            f"Searchlight kernel on a {'×'.join(map(str, s['grid']))} grid, "
            f"{s['mask_voxels']:,} mask voxels, {s['sphere_voxels']}-voxel spheres: "
            f"{s['kernel_seconds']} s vs {s['scipy_loop_seconds_estimated']} s estimated for a "
            f"per-sphere `scipy.stats.pearsonr` loop (**{s['speedup']}×**).",
            f"Voxel-wise F, {m['participants']} participants × {m['voxels']:,} voxels, 200 max-F "
            f"permutations: {m['seconds_200_permutations_1_worker']} s with 1 worker, "
            f"{m['seconds_200_permutations_2_worker']} s with 2 ({m['speedup_2_workers']}×).",
        ]
    )


def _maps(r: dict) -> str:
    blocks, whole = r["blocks"], r["one-block"]
    return "\n\n".join(
        [
            f"{r['participants']:,} participants' maps at {r['resolution_mm']} mm "
            f"({r['gray_voxels']:,} gray-matter voxels; the float32 matrix is "
            f"{r['matrix_float32_mb']:,} MB), loaded and tested (omnibus F, 20 max-F "
            "permutations), each mode a whole process.",
            _table(
                ["mode", "seconds", "peak RSS (MB)"],
                [
                    ["one block in memory", whole["seconds"], f"{whole['peak_rss_mb']:,.0f}"],
                    [
                        "memory map, 128 MB voxel blocks (`stats --maps`)",
                        blocks["seconds"],
                        f"{blocks['peak_rss_mb']:,.0f}",
                    ],
                ],
            ),
            f"Same maximum F: {r['same_max_f']}. Peak RSS ≤ 2 GB: "
            f"{_verdict(blocks['peak_rss_mb'] <= 2048)}.",
        ]
    )


def _cohort(r: dict) -> str:
    steps = ["simulate", "extract", "stats", "classify"]
    rows = []
    for step in steps:
        cells = [
            f"{row[f'{step}_seconds']} s, {row[f'{step}_peak_rss_mb']:,} MB" for row in r["sizes"]
        ]
        rows.append([step, *cells, r["slopes"].get(f"{step}_seconds_per_1000", "")])
    header = ["step", *(f"{row['participants']:,} participants" for row in r["sizes"])]
    return "\n\n".join(
        [
            "Simulated 6 mm ALFF cohorts (23 % TRD, 50 % nTRD, 27 % HC); each step a whole "
            "`sfckit` process with `--jobs 2` where it applies (classify: logistic, 1 repeat, "
            "no permutations); peak RSS of the step's largest process.",
            _table([*header, "seconds per extra 1,000"], rows),
            f"Largest process {r['largest_process_mb']:,} MB (target ≤ 4 GB: "
            f"{_verdict(r['largest_process_mb'] <= 4096)}).",
        ]
    )


def _demo(r: dict) -> str:
    rows, verdicts = [], []
    labels = {"jobs_2": "`sfckit demo --jobs 2`", "jobs_1": "`sfckit demo --jobs 1`",
              "jobs_2_busy": "`sfckit demo --jobs 2` beside two busy processes"}  # fmt: skip
    for key, limit in (("jobs_2", 90), ("jobs_1", 300), ("jobs_2_busy", None)):
        if key not in r:
            continue
        run = r[key]
        slowest = ", ".join(f"{step} {sec:.0f} s" for step, sec in run["slowest_steps"].items())
        rows.append(
            [
                labels[key],
                run["seconds"],
                run.get("cpu_seconds", "n/a"),
                run["peak_rss_mb"],
                slowest,
            ]
        )
        if limit is not None:
            verdicts.append(f"{labels[key]} under {limit} s: {_verdict(run['seconds'] < limit)}")
    if "busy_cpu_ratio" in r:
        verdicts.append(
            f"CPU time beside two busy processes {r['busy_cpu_ratio']} x the quiet run's "
            f"(target <= 1.25: {_verdict(r['busy_cpu_ratio'] <= 1.25)})"
        )
    return "\n\n".join(
        [
            "The whole demo (simulation of 310 participants to report.html) as one process, "
            "sfckit's bytecode compiled first (as `pip install .` compiles it); CPU seconds "
            "are the operating system's accounting of it and every process it "
            "waited for; the slowest steps as logged (each step's wall time, with another step "
            "beside it where two run at once).",
            _table(
                ["command", "seconds", "CPU seconds", "peak RSS (MB)", "slowest steps (logged)"],
                rows,
            ),
            "; ".join(verdicts) + ".",
        ]
    )


def _nested(r: dict) -> str:
    rows, verdicts = [], []
    for model, limit in (("svm", 0.35), ("logistic", 0.5)):
        if model not in r:
            continue
        run = r[model]
        seconds = run["seconds_median"]
        rows.append(
            [model, seconds["plain"], seconds["sfckit"], run["ratio_vs_plain"],
             seconds["sfckit_no_importance"], run["ratio_vs_plain_no_importance"],
             f"{run['auc_abs_difference']:.1e}",
             "yes" if run["same_parameters_every_fold"] else "NO", max(run["peak_rss_mb"].values())]
        )  # fmt: skip
        verdicts.append(
            f"{model} ratio <= {limit} with the same AUC (|delta| <= 1e-6) and parameters: "
            + _verdict(
                run["ratio_vs_plain"] <= limit
                and run["auc_abs_difference"] <= 1e-6
                and run["same_parameters_every_fold"]
            )
        )
    return "\n\n".join(
        [
            f"{r['cohort']}; `sfckit classify --outer 5 --repeats {r['repeats']} --inner 5 "
            "--permutations 0 --jobs 1` against GridSearchCV + CalibratedClassifierCV written "
            "plainly on the same folds and grid (benchmarks/nested.py), whole processes, "
            f"alternated, median of {r['rounds']}. sfckit's time includes its permutation "
            "importance; the plain procedure computes none.",
            _table(
                [
                    "model",
                    "plain s",
                    "sfckit s",
                    "ratio",
                    "sfckit --no-importance s",
                    "ratio",
                    "|AUC delta|",
                    "same parameters",
                    "peak RSS (MB)",
                ],
                rows,
            ),  # fmt: skip
            "; ".join(verdicts) + ".",
        ]
    )


def _study(r: dict) -> str:
    return (
        f"`sfckit classify --model svm --repeats 10 --permutations {r['permutations']} "
        f"--jobs 2` (5 outer x 5 inner folds, reference-sized cohort): {r['wall_seconds']} s "
        f"wall, {r['cpu_seconds']} CPU-seconds, peak RSS {r['peak_rss_mb']} MB. Under 10 "
        f"minutes: {_verdict(r['wall_seconds'] <= 600)}."
    )


def _tms(r: dict) -> str:
    return (
        "`sfckit tms-target` on simulated 120-volume 3 mm runs, whole processes (median of 3): "
        f"{r['one_participant_seconds']} s for one participant, "
        f"{r['three_participants_seconds']} s for three, {r['seconds_per_further_run']} s per "
        "further run (the rest is start-up and imports). Its band-pass (all voxels in one "
        f"call) against nilearn's default (one voxel at a time), 4,000 voxels: "
        f"{r['band_pass_4000_voxels_seconds']} s vs {r['nilearn_default_band_pass_seconds']} s "
        f"({r['band_pass_speedup']}x), largest difference "
        f"{r['band_pass_max_abs_difference']:.1e}."
    )


SECTIONS = {
    "extraction_whole_process": ("One participant's extraction, whole processes", _extraction),
    "kernel": ("ALFF kernel", _kernel),
    "kl_similarity": ("kl-similarity", _kl),
    "scaling": ("Cohort extraction with 1 and 2 workers", _scaling),
    "searchlight": ("Searchlight and voxel-wise statistics", _searchlight),
    "map_memory": ("Voxel-wise statistics in bounded memory", _maps),
    "cohort": ("Simulated cohorts end to end, whole processes", _cohort),
    "demo": ("The demo", _demo),
    "nested_cv": ("Nested cross-validation against plain scikit-learn", _nested),
    "study_settings": ("Classification with the study's settings", _study),
    "tms_target": ("TMS targets", _tms),
}


def write_results(path: Path, results: dict, command: list[str]) -> None:
    """RESULTS.md from ``results`` (the dict benchmarks/run.py prints as JSON)."""
    parts = ["# Benchmark results", machine_note(command)]
    for key, (title, render) in SECTIONS.items():
        if key in results:
            section = dict(results[key])
            if key == "scaling":
                section["parallel_ceiling"] = results.get("parallel_ceiling")
            if key == "searchlight":
                section = {"searchlight": results[key], "map_statistics": results["map_statistics"]}
            dated = f" ({results[key]['measured_on']})" if "measured_on" in results[key] else ""
            parts.append(f"## {title}{dated}\n\n{render(section)}")
    parts.append(
        "Measurements of earlier sessions, with the changes that produced them, are in "
        "benchmarks/HISTORY.md."
    )
    path.write_text("\n\n".join(parts) + "\n")
