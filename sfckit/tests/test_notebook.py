"""The Python API as a notebook user meets it, and the Python snippets of the README and the
documentation, executed as written."""

from __future__ import annotations

import gc
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sfckit
from sfckit.errors import CoverageWarning, SparseRegionWarning

ROOT = Path(__file__).resolve().parents[2]
CLASSIFY = {
    "positive": "TRD",
    "negative": "nTRD",
    "model": "logistic",
    "outer": 2,
    "repeats": 1,
    "inner": 2,
    "permutations": 0,
    "n_bootstrap": 20,
    "importance": False,
}


def test_a_notebook_session(tmp_path, monkeypatch):
    """simulate -> extract -> group_stats -> classify -> SFCExtractor in a pipeline, each
    returned DataFrame fed back in, results deleted and collected between calls; every
    warning points at this file."""
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        cohort = sfckit.simulate_cohort(n_trd=5, n_ntrd=5, n_hc=5, resolution=6.0, seed=11)
        manifest, manifest_file = cohort["manifest"], cohort.path("manifest.tsv")
        del cohort
        gc.collect()

        features = sfckit.extract(manifest=manifest)  # the returned table, back in
        sfc, gmv, sfc_file = features["sfc"], features["gmv"], features.path("sfc.tsv")
        del features
        gc.collect()
        assert sfc["participant_id"].tolist() == manifest["participant_id"].tolist()

        stats = sfckit.group_stats(features=sfc, manifest=manifest, covariates=["age"])
        from_tables = stats["group_stats"]
        del stats
        gc.collect()
        stats = sfckit.group_stats(features=sfc_file, manifest=manifest_file, covariates=["age"])
        pd.testing.assert_frame_equal(from_tables, stats["group_stats"])  # same as the files
        del stats
        gc.collect()
        gmv_stats = sfckit.group_stats(features=gmv, manifest=manifest)  # another table
        assert len(gmv_stats["group_stats"]) > 0
        del gmv_stats
        gc.collect()

        classified = sfckit.classify(features=sfc, manifest=manifest, **CLASSIFY)
        predictions, metrics = classified["predictions"], classified["metrics"]
        del classified
        gc.collect()
        patients = manifest[manifest["group"] != "HC"]
        assert sorted(predictions["participant_id"]) == sorted(patients["participant_id"])
        assert 0 <= metrics["auc"] <= 1
        from_files = sfckit.classify(features=sfc_file, manifest=manifest_file, **CLASSIFY)
        assert from_files["metrics"] == metrics
        del from_files
        gc.collect()
        edited = sfckit.classify(  # the user's own edits of returned tables
            features=sfc[sfc["participant_id"].isin(patients["participant_id"])],
            manifest=patients.drop(columns=["age"]),
            **CLASSIFY,
        )
        assert edited["metrics"]["auc"] == metrics["auc"]
        del edited
        gc.collect()

        pairs = list(zip(manifest["gmv"], manifest["alff"], strict=True))
        labels = (manifest["group"] == "HC").to_numpy().astype(int)
        pipeline = make_pipeline(sfckit.SFCExtractor(), StandardScaler(), LogisticRegression())
        scores = cross_val_score(pipeline, pairs, labels, cv=3, scoring="roc_auc")
        assert scores.shape == (3,) and np.all(np.isfinite(scores))
        extracted = sfckit.SFCExtractor(fill=None).fit_transform(pairs)
        regions = [c for c in sfc.columns if c != "participant_id"]
        np.testing.assert_allclose(extracted, sfc[regions].to_numpy(), atol=1e-12)

    assert seen, "the 6 mm grid leaves regions empty: the session should have been told"
    ours = [w for w in seen if w.category.__module__.startswith("sfckit")]  # not a library's
    assert ours and all(w.filename == __file__ for w in ours), [(w.filename, str(w)) for w in ours]
    assert not any("--" in str(w.message) for w in seen), [str(w.message) for w in seen]
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written in the cwd


def python_snippets(path: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", path.read_text(encoding="utf-8"), re.M | re.S)


DOCUMENTS = ["README.md", "docs/getting_started.md"]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_the_python_snippets_run_as_written(document, tmp_path, monkeypatch):
    path = ROOT / document
    if not path.is_file():
        pytest.skip("the repository's documents are not beside the package")
    snippets = python_snippets(path)
    assert snippets, f"{document} has no Python snippet"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__snippet__"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SparseRegionWarning)
        warnings.simplefilter("ignore", CoverageWarning)
        for snippet in snippets:  # in order: a later block may use an earlier one's names
            exec(compile(snippet, f"{document} snippet", "exec"), namespace)


def test_every_document_with_python_snippets_is_run():
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    having = {
        str(p.relative_to(ROOT))
        for p in documents
        if "_build" not in p.parts and p.is_file() and python_snippets(p)
    }
    assert having <= set(DOCUMENTS), f"add to DOCUMENTS: {sorted(having - set(DOCUMENTS))}"
