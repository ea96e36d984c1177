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


def refuse_writes_inside(folder: Path, monkeypatch) -> None:
    """Make ``folder`` behave like a read-only folder whose parent is writable (root ignores
    file modes, so the refusal is injected at ``os.open``/``os.mkdir``/``os.replace``)."""
    folder = folder.resolve()

    def inside(path) -> bool:
        resolved = Path(os.fsdecode(path)).resolve()
        return folder in (resolved, resolved.parent)  # O_TMPFILE opens the folder itself

    def guarded(real, *paths):
        def call(*args, **kwargs):
            if any(inside(args[i]) for i in paths if i < len(args)):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS))
            return real(*args, **kwargs)

        return call

    def guarded_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and inside(path):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real_open(path, flags, *args, **kwargs)

    real_open = os.open
    monkeypatch.setattr(os, "open", guarded_open)
    monkeypatch.setattr(os, "mkdir", guarded(os.mkdir, 0))
    monkeypatch.setattr(os, "replace", guarded(os.replace, 1))


def test_a_read_only_output_folder_is_refused_before_any_work(
    tiny_study, tmp_path, capsys, monkeypatch
):
    """The folder exists and cannot be written, its parent can: the step must not compute
    and then fail while moving its files in (as it did when only the parent was probed)."""
    out = tmp_path / "earlier"
    out.mkdir()
    (out / "results.tsv").write_text("an earlier run\n")
    if os.geteuid() != 0:
        out.chmod(0o555)
    else:
        refuse_writes_inside(out, monkeypatch)
    calls = []
    import sfckit.steps.stats as stats_step

    regional = stats_step._regional
    monkeypatch.setattr(
        stats_step, "_regional", lambda *a, **k: calls.append(1) or regional(*a, **k)
    )
    status = main(stats_args(tiny_study, out))
    err = capsys.readouterr().err.strip()
    out.chmod(0o755)
    assert status == 2 and err.count("\n") == 0 and "Traceback" not in err, err
    assert "earlier: cannot be written" in err and "--out" in err
    assert not calls
    assert sorted(p.name for p in out.iterdir()) == ["results.tsv"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".earlier.")]


def test_an_output_folder_on_its_own_file_system_is_staged_inside_it(tmp_path, monkeypatch):
    """A mount point as --out: renames from a stage beside it would cross devices (EXDEV)."""
    out = tmp_path / "mounted"
    out.mkdir()
    real_stat = Path.stat

    def other_device(self, *args, **kwargs):
        result = real_stat(self, *args, **kwargs)
        if self == out:
            values = list(result)
            values[2] = result.st_dev + 1  # st_dev
            return os.stat_result(values)
        return result

    monkeypatch.setattr(Path, "stat", other_device)
    assert outputs._stage_parent(out) == out
    assert outputs._stage_parent(tmp_path / "fresh") == tmp_path
    with outputs.staged_folder(out) as stage:
        assert stage.parent == out
        (stage / "table.tsv").write_text("a\n1\n")
    assert sorted(p.name for p in out.iterdir()) == ["table.tsv"]
    monkeypatch.undo()
    assert outputs._stage_parent(out) == tmp_path


# The same faults for real: a tmpfs mounted read-only, and one too small for the step. The
# mocks above stay as extra cases (and run where mounting is not allowed).


@pytest.fixture
def mount():
    """``mount(folder, options)`` mounts a fresh tmpfs on ``folder`` (unmounted after the
    test); skips the test with the reason where this machine does not allow it."""
    import shutil
    import subprocess

    mounted: list[Path] = []

    def do(folder: Path, options: str) -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root")
        if shutil.which("mount") is None:
            pytest.skip("no mount command on this machine")
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:  # e.g. a container without CAP_SYS_ADMIN
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield do
    for folder in reversed(mounted):
        subprocess.run(["umount", str(folder)], check=False)


def remount_read_only(folder: Path) -> None:
    import subprocess

    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)


@pytest.fixture
def extract_inputs(tiny_cohort, tmp_path):
    import nibabel as nib

    manifest, atlas = tiny_cohort
    nib.save(atlas.image, tmp_path / "atlas.nii.gz")
    atlas.labels.to_csv(tmp_path / "atlas.tsv", sep="\t", index=False)
    return ["--manifest", str(manifest), "--atlas", str(tmp_path / "atlas.nii.gz")] + [
        "--atlas-labels",
        str(tmp_path / "atlas.tsv"),
        "--quiet",
    ]


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    assert err.startswith("sfckit: error: "), err
    return err


@pytest.mark.parametrize("where", ["new", "new/sub", "existing", "existing/sub", "."])
def test_a_real_read_only_mount_is_refused_before_any_work(
    where, mount, tmp_path, extract_inputs, tiny_study, capsys, monkeypatch
):
    """The reported traceback (OSError: [Errno 30] from the cache's mkdir in extraction),
    reproduced on a real read-only tmpfs: a new --out under it, an existing one, a
    sub-folder of each and the mount point itself; extract, stats (a staged step), a whole
    study and the demo."""
    import sfckit.steps.extraction as extraction
    import sfckit.steps.stats as stats_step

    read_only = mount(tmp_path / "ro", "size=1M")
    (read_only / "existing").mkdir()
    (read_only / "existing" / "results.tsv").write_text("an earlier run\n")
    remount_read_only(read_only)
    out = read_only / where
    calls = []
    for module, name in ((extraction, "_reference_grid"), (stats_step, "_regional")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _r=real, **k: calls.append(1) or _r(*a, **k))
    for arguments in (
        ["extract", *extract_inputs, "--out", str(out)],
        stats_args(tiny_study, out),
        ["run", str(tiny_study[0]), "--out", str(out), "--quiet"],
        ["demo", "--out", str(out), "--quiet"],
    ):
        assert main(arguments) == 2
        err = one_line_error(capsys)
        assert f"{out.absolute()}: cannot be written (Read-only file system)" in err, err
        assert "--out" in err
    assert not calls  # refused before reading a single image or fitting a model
    assert sorted(p.name for p in read_only.rglob("*")) == ["existing", "results.tsv"]


@pytest.mark.slow  # extraction on a real tmpfs
def test_a_real_full_disk_stops_the_step_cleanly(mount, tmp_path, extract_inputs, capsys):
    """A 64 kB tmpfs fills while extract writes its cache: one line naming a file under
    --out (not the hidden staging folder), exit 2, no tables half-written; the earlier file
    in the folder is intact and no staging folder is left behind."""
    full = mount(tmp_path / "full", "size=64k")
    out = full / "features"
    out.mkdir()
    (out / "notes.txt").write_text("the user's earlier file\n")
    assert main(["extract", *extract_inputs, "--out", str(out)]) == 2
    err = one_line_error(capsys)
    assert "cannot be written (No space left on device)" in err and "free disk space" in err
    assert f"{out}/" in err and ".tmp" not in err.split(";")[0], err
    assert (out / "notes.txt").read_text() == "the user's earlier file\n"
    assert not [p for p in out.iterdir() if p.suffix == ".tsv"]
    assert not [p for p in full.rglob(".*.tmp")]
