"""Ctrl-C (SIGINT to the whole process group, as a terminal sends it) at any moment of a
parallel extraction: one line, exit status 130, no temporary files; a rerun resumes.

The interrupted runs start cold (an empty compiled-bytecode cache, as on a fresh install or
a slow shared file system), so that the Ctrl-C also lands while the command and its worker
processes are still importing their modules. Only the interpreter's own start-up (the
``site`` module, before any sfckit code runs) is warmed first: a Ctrl-C in there is
Python's to report."""

import contextlib
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
    # jobs at a time its process is killed with the fork server, at once)
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


# a study's process, reduced to what the death signals concern: the fork server sfckit starts
# and two job processes, one stopped before it could close the server's "alive" pipe (it
# never does: it runs no sfckit code), one waiting
STAND_IN = """
import signal, time
from multiprocessing import forkserver
from sfckit.schedule import start_job_server

context = start_job_server()
stopped = context.Process(target=signal.raise_signal, args=(signal.SIGSTOP,))
waiting = context.Process(target=time.sleep, args=(600,))
stopped.start()
waiting.start()
print(forkserver._forkserver._forkserver_pid, stopped.pid, waiting.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_killed_study_takes_a_stopped_job_process_and_the_fork_server_with_it():
    """The gap of issue 39: a job process stopped (SIGSTOP) while it still held the fork
    server's "alive" pipe kept the server, and so itself, alive after the study was killed,
    and ran on to finish its job once continued."""
    import psutil

    study = subprocess.Popen([sys.executable, "-c", STAND_IN], stdout=subprocess.PIPE, text=True)
    processes = []
    try:
        server, stopped, waiting = map(int, study.stdout.readline().split())
        processes = [psutil.Process(pid) for pid in (server, stopped, waiting)]
        assert processes[0].ppid() == study.pid
        deadline = time.monotonic() + 30
        while processes[1].status() != psutil.STATUS_STOPPED and time.monotonic() < deadline:
            time.sleep(0.01)
        assert processes[1].status() == psutil.STATUS_STOPPED
        study.kill()
        study.wait(timeout=30)
        _, alive = psutil.wait_procs(processes, timeout=10)
        assert alive == []
    finally:
        for process in processes:
            with contextlib.suppress(psutil.Error):
                process.kill()
        study.kill()
        study.wait()


# the fork server started from a thread that ends while a job runs: Linux would send the
# death signal when that thread ends (and the server's to the job), so the server is not
# bound to it
FROM_A_THREAD = """
import threading, time
from sfckit.schedule import start_job_server

def start_a_job():
    context = start_job_server()
    jobs.append(context.Process(target=time.sleep, args=(3,)))
    jobs[0].start()

jobs = []
thread = threading.Thread(target=start_a_job)
thread.start()
thread.join()
jobs[0].join()
raise SystemExit(jobs[0].exitcode)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_fork_server_started_from_a_thread_outlives_the_thread():
    done = subprocess.run([sys.executable, "-c", FROM_A_THREAD], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
