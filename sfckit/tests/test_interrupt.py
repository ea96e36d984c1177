"""Ctrl-C (SIGINT to the whole process group, as a terminal sends it) at any moment of a
parallel extraction: one line, exit status 130, no temporary files; a rerun resumes.

The interrupted runs start cold (an empty compiled-bytecode cache, as on a fresh install or
a slow shared file system), so that the Ctrl-C also lands while the command and its worker
processes are still importing their modules. Only the interpreter's own start-up (the
``site`` module, before any sfckit code runs) is warmed first: a Ctrl-C in there is
Python's to report."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sfckit.io.tables import read_tsv
from sfckit.simulate.cohort import SimulationSettings, simulate_cohort

pytestmark = pytest.mark.slow  # whole processes, interrupted and rerun

SFCKIT = Path(sys.executable).parent / "sfckit"


@pytest.fixture(scope="module")
def bold_cohort(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bold")
    settings = SimulationSettings(
        seed=5, n_trd=8, n_ntrd=8, n_hc=8, kind="bold", resolution=6.0, n_volumes=120
    )
    return simulate_cohort(folder, settings, progress=False)


@pytest.mark.parametrize("delay", [0.2, 0.6, 1.2, 2.0, 3.5])
def test_ctrl_c_during_a_parallel_extraction(bold_cohort, tmp_path, delay):
    out = tmp_path / "out"
    # the console script, as users run it (`python -m` reports an interrupt caught during
    # start-up through runpy as a death by SIGINT)
    command = [str(SFCKIT), "extract", "--manifest", str(bold_cohort)]
    cold_start = {**os.environ, "PYTHONPYCACHEPREFIX": str(tmp_path / "bytecode")}
    cold_start.pop("PYTHONDONTWRITEBYTECODE", None)  # the bytecode shows how far it got
    subprocess.run([sys.executable, "-c", "import re, pathlib"], env=cold_start, check=True)
    process = subprocess.Popen(
        [*command, "--out", str(out), "--jobs", "2", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=cold_start,
    )
    # the delay counts from when the interpreter runs sfckit's code (its entry module is
    # compiled into the bytecode folder): a Ctrl-C while Python itself is still starting
    # (importing site) ends any program with "Fatal Python error", whatever it does, and a
    # busy CI machine made 0.2 s fall there
    _wait_for_bytecode(tmp_path / "bytecode", "__main__", process)
    time.sleep(delay)
    try:
        os.killpg(process.pid, signal.SIGINT)
    except ProcessLookupError:
        pass  # already finished
    _, err = process.communicate(timeout=120)
    lines = err.strip().splitlines()
    assert process.returncode in (0, 130), err
    assert "Traceback" not in err, err
    if process.returncode == 130:  # (a finished run may print its warnings instead)
        assert lines == ["sfckit: interrupted; rerun the same command to resume"], err
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    rerun = subprocess.run([*command, "--out", str(out), "--quiet"], capture_output=True)
    assert rerun.returncode == 0
    assert len(read_tsv(out / "sfc.tsv")) == 24


def _wait_for_bytecode(folder: Path, module: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if any(folder.rglob(f"sfckit/{module}*.pyc")):
            return
        time.sleep(0.01)
    raise AssertionError(f"sfckit's {module} was never compiled into {folder}")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_killed_study_resumes_to_identical_tables(tiny_study, tmp_path, jobs):
    """SIGKILL in the middle of `sfckit run`, then the same command: finished steps are
    reused and the tables equal those of an uninterrupted run byte for byte. With two jobs
    at a time, no job process goes on computing after the study was killed."""
    import psutil

    study, reference, _ = tiny_study
    out = tmp_path / "results"
    command = [sys.executable, "-u", str(SFCKIT), "run", str(study), "--out", str(out)]
    process = subprocess.Popen(
        [*command, "--quiet", "--jobs", jobs],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    descendants = []
    for line in process.stdout:
        if line.startswith("classify-logistic: running"):
            descendants = psutil.Process(process.pid).children(recursive=True)
            process.kill()
            break
    process.wait(timeout=120)
    assert process.returncode == -signal.SIGKILL
    gone, alive = psutil.wait_procs(descendants, timeout=10)
    assert alive == []
    if jobs == "2":
        assert len(descendants) >= 2  # the fork server and a job process at least
    assert (out / "stats" / "blocks" / "group_stats.tsv").is_file()
    # the job that had just started did not go on to finish without the study (with two
    # jobs at a time its process may finish in the moment the kill takes to reach it: since
    # logistic fits became fast that happened in CI; what must hold then is that no process
    # lives on, above, and that the rerun runs it again, below)
    if jobs == "1":
        assert not (out / "classify" / "logistic" / "metrics.json").exists()
    assert not (out / "report.html").exists()
    rerun = subprocess.run([*command, "--quiet"], capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert "stats-blocks: up to date, skipped" in rerun.stdout
    assert "classify-logistic: running" in rerun.stdout
    tables = sorted(p.relative_to(reference) for p in reference.rglob("*.tsv"))
    tables = [t for t in tables if ".sfckit-cache" not in t.parts]
    assert len(tables) > 20
    for table in tables:
        assert (out / table).read_bytes() == (reference / table).read_bytes(), table
