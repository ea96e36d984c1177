"""The task engine: tasks start before results are asked for, and can be cancelled."""

import time
from contextlib import closing
from pathlib import Path

import pytest

from sfckit import engine
from sfckit.engine import run_tasks
from sfckit.errors import UserError


def _mark(folder: str, index: int, delay: float = 0.0) -> int:
    time.sleep(delay)
    (Path(folder) / f"{index}.done").touch()
    return index * index


def _wait_for(folder: Path, count: int, seconds: float = 60) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done = len(list(folder.glob("*.done")))
        if done >= count:
            return done
        time.sleep(0.05)
    return len(list(folder.glob("*.done")))


def test_workers_start_before_the_first_result_is_asked_for(tmp_path):
    tasks = run_tasks(_mark, [(str(tmp_path), i) for i in range(4)], jobs=2, progress=False)
    try:
        # nothing is consumed yet, yet the tasks run: the caller can work meanwhile
        assert _wait_for(tmp_path, 4) == 4
        assert sorted(tasks) == [0, 1, 4, 9]
    finally:
        tasks.close()


def test_one_job_runs_tasks_as_results_are_consumed(tmp_path):
    tasks = run_tasks(_mark, [(str(tmp_path), i) for i in range(3)], jobs=1, progress=False)
    assert not list(tmp_path.glob("*.done"))
    assert next(tasks) == 0
    assert len(list(tmp_path.glob("*.done"))) == 1
    tasks.close()
    assert len(list(tmp_path.glob("*.done"))) == 1  # closed: the rest never ran


@pytest.mark.parametrize("jobs", [1, 2])
def test_results_do_not_depend_on_the_number_of_jobs(tmp_path, jobs):
    with closing(
        run_tasks(_mark, [(str(tmp_path), i) for i in range(7)], jobs=jobs, progress=True)
    ) as tasks:
        assert sorted(tasks) == [i * i for i in range(7)]


def test_closing_early_cancels_quietly(tmp_path, recwarn):
    arguments = [(str(tmp_path), i, 0.2) for i in range(40)]
    tasks = run_tasks(_mark, arguments, jobs=2, progress=False)
    next(tasks)
    tasks.close()
    assert not [w for w in recwarn if "cancelled" in str(w.message)]
    assert len(list(tmp_path.glob("*.done"))) < 40


def test_invalid_jobs_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="--jobs"):
        run_tasks(_mark, [(str(tmp_path), 0)], jobs=0)


def _square(value: int) -> int:
    return value * value


def test_a_heartbeat_line_replaces_the_bar_off_a_terminal(monkeypatch, capsys):
    import sfckit.engine as engine

    monkeypatch.setattr(engine, "HEARTBEAT_SECONDS", 0.0)
    results = list(engine.run_tasks(_square, [(i,) for i in range(4)], description="squares"))
    assert sorted(results) == [0, 1, 4, 9]
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("squares: 4/4 done, ") and lines[-1].endswith(" s elapsed")
    assert len(lines) == 4
    list(engine.run_tasks(_square, [(i,) for i in range(4)], progress=False))
    assert capsys.readouterr().err == ""  # --quiet stays quiet


def test_one_thread_limits_every_pool_and_sees_libraries_imported_later(monkeypatch):
    import sys
    import types

    from threadpoolctl import threadpool_info

    from sfckit import engine

    def counts():
        return [pool["num_threads"] for pool in threadpool_info()]

    before = counts()
    assert before  # numpy's BLAS at least
    with engine.one_thread():
        assert counts() == [1] * len(before)
    assert counts() == before
    made = engine._CONTROLLER
    with engine.one_thread():
        pass
    assert engine._CONTROLLER is made  # reused while nothing new was imported
    monkeypatch.setitem(sys.modules, "sfckit_test_new_module", types.ModuleType("new"))
    with engine.one_thread():
        pass
    assert engine._CONTROLLER is not made  # an import may have loaded a library: made again


@pytest.mark.parametrize("jobs", [2, 3, -1])
def test_batches_keep_order_and_shrink_to_single_participants_at_the_end(jobs, monkeypatch):
    monkeypatch.setattr("joblib.cpu_count", lambda: 16)  # --jobs -1 on a 16-core machine
    workers = 16 if jobs == -1 else jobs
    for n in (1, 7, 50, 200, 1000):
        batches = engine.make_batches(list(range(n)), jobs)
        assert [item for batch in batches for item in batch] == list(range(n))
        sizes = [len(batch) for batch in batches]
        assert sizes == sorted(sizes, reverse=True) and sizes[-1] == 1
        largest = -(-n // (workers * engine.BATCHES_PER_WORKER))
        assert max(sizes) == largest  # few round trips while most work is left
        assert set(sizes[-min(n, workers * engine.TAIL_SHARE) :]) == {1}
    assert engine.make_batches(list(range(3)), 1) == [[0], [1], [2]]


class _Clock:
    """``time`` for the engine with a clock that advances 10 s at every reading."""

    def __init__(self):
        self.now = -10.0

    def monotonic(self) -> float:
        self.now += 10.0
        return self.now


def test_the_log_line_says_how_long_is_left_after_the_first_units(monkeypatch, capsys):
    import sfckit.engine as engine

    monkeypatch.setattr(engine, "HEARTBEAT_SECONDS", 0.0)
    monkeypatch.setattr(engine, "time", _Clock())
    list(engine.run_tasks(_square, [(i,) for i in range(9)], description="permutations"))
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0] == "permutations: 1/9 done, 10 s elapsed"  # too early to estimate
    assert lines[1] == "permutations: 2/9 done, 20 s elapsed"
    # 3 units in 30 s: 6 more at the same pace take 60 s
    assert lines[2] == "permutations: 3/9 done, 30 s elapsed, about 60 s left"
    assert lines[5] == "permutations: 6/9 done, 60 s elapsed, about 30 s left"
    assert lines[-1] == "permutations: 9/9 done, 2 min elapsed"


def test_the_terminal_bar_shows_the_same_estimate(monkeypatch):
    import sfckit.engine as engine

    shown = []

    class Bar(engine.Progress):
        def update(self, task, **fields):
            shown.append(fields.get("left"))
            super().update(task, **fields)

    class Terminal:
        def isatty(self) -> bool:
            return True

        def write(self, text: str) -> int:
            return len(text)

        def flush(self) -> None:
            pass

    monkeypatch.setattr(engine, "Progress", Bar)
    monkeypatch.setattr(engine, "time", _Clock())
    monkeypatch.setattr(engine.sys, "stderr", Terminal())
    list(engine.run_tasks(_square, [(i,) for i in range(5)], description="squares"))
    assert shown == ["", "", "about 20 s left", "about 10 s left", ""]


@pytest.mark.parametrize(
    ("seconds", "text"), [(40, "40 s"), (89.6, "90 s"), (725, "12 min"), (7500, "2 h 05 min")]
)
def test_durations_read_as_a_person_would_say_them(seconds, text):
    from sfckit.engine import format_seconds

    assert format_seconds(seconds) == text
