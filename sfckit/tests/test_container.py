"""The container recipes (container/Dockerfile, container/sfckit.def) are valid and build
what the BIDS-App call needs: linted with hadolint, parsed with spython, their copied paths
present, and their entry points the sfckit command."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTAINER = ROOT / "container"


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(found).is_file():
        pytest.fail("hadolint is missing: install the test extras (pip install -e '.[test]')")
    return found


def test_the_dockerfile_passes_hadolint_and_copies_what_exists():
    dockerfile = CONTAINER / "Dockerfile"
    result = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "info", str(dockerfile)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line.split() for line in dockerfile.read_text().splitlines() if line.strip()]
    copied = [words[1:-1] for words in lines if words[0] == "COPY"]
    assert copied and all((ROOT / source).exists() for sources in copied for source in sources)
    assert ["ENTRYPOINT", '["sfckit"]'] in lines


def test_the_apptainer_definition_parses_and_runs_sfckit():
    from spython.main.parse.parsers import SingularityParser

    recipe = SingularityParser(str(CONTAINER / "sfckit.def")).recipe
    (stage,) = recipe.values()
    assert stage.fromHeader == "python:3.11-slim"
    sources = [line.split()[0] for line in stage.files]
    assert sources and all((ROOT / source).exists() for source in sources)
    assert "pip install /opt/sfckit" in stage.install
    text = (CONTAINER / "sfckit.def").read_text()
    runscript = text.split("%runscript", 1)[1].split("%", 1)[0]
    assert runscript.strip() == 'exec sfckit "$@"'


@pytest.mark.slow
def test_the_atlas_step_of_both_recipes_runs(tmp_path, monkeypatch):
    """Both recipes derive the built-in atlases at build time (the container runs offline)."""
    monkeypatch.setenv("SFCKIT_CACHE_DIR", str(tmp_path))
    commands = {
        line.split('python -c "', 1)[1].rsplit('"', 1)[0]
        for name in ("Dockerfile", "sfckit.def")
        for line in (CONTAINER / name).read_text().splitlines()
        if 'python -c "' in line
    }
    assert len(commands) == 1
    subprocess.run([sys.executable, "-c", commands.pop()], check=True, timeout=300)
    assert any(tmp_path.rglob("*.nii*"))
