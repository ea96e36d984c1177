"""Faults while writing: a full disk or a read-only folder is one line and exit 2, and a
step's tables appear together or not at all (the previous set stays intact)."""

import errno
import json
import os
from pathlib import Path

import pytest

import sfckit.io.outputs as outputs
from sfckit.cli import main


def stats_args(tiny_study, out: Path, *extra: str) -> list[str]:
    _, results, _ = tiny_study
    manifest = json.loads((results / "study.json").read_text())["manifest"]
    features = results / "features" / "blocks" / "sfc.tsv"
    args = ["stats", "--features", str(features), "--manifest", manifest, "--out", str(out)]
    return [*args, "--quiet", *extra]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_a_full_disk_leaves_the_previous_tables_whole(tiny_study, tmp_path, capsys, monkeypatch):
    out = tmp_path / "stats"
    assert main(stats_args(tiny_study, out)) == 0
    before = snapshot(out)
    assert {"group_stats.tsv", "posthoc.tsv", "specificity.tsv"} <= set(before)
    calls = {"n": 0}
    real_fsync = os.fsync

    def fsync_until_full(fd):
        calls["n"] += 1
        if calls["n"] >= 3:  # the disk fills up after two tables
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(outputs.os, "fsync", fsync_until_full)
    status = main(stats_args(tiny_study, out, "--covariates", "age", "--alpha", "0.01"))
    err = capsys.readouterr().err.strip()
    assert status == 2 and err.count("\n") == 0 and "Traceback" not in err
    assert "cannot be written (No space left on device)" in err and "free disk space" in err
    assert snapshot(out) == before  # not 2 new tables beside 3 old ones
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".stats.")]


def test_a_fresh_folder_is_not_created_half_full(tiny_study, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(
        outputs.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.EDQUOT, "quota"))
    )
    assert main(stats_args(tiny_study, tmp_path / "fresh")) == 2
    assert "cannot be written" in capsys.readouterr().err
    assert not (tmp_path / "fresh").exists()


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES])
def test_an_unwritable_output_folder_is_one_line(tiny_study, tmp_path, capsys, monkeypatch, code):
    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(outputs.tempfile, "mkdtemp", refuse)
    monkeypatch.setattr(outputs.tempfile, "mkstemp", refuse)
    assert main(stats_args(tiny_study, tmp_path / "out")) == 2
    err = capsys.readouterr().err.strip()
    assert f"cannot be written ({os.strerror(code)})" in err and "--out" in err
    assert err.count("\n") == 0 and "Traceback" not in err
