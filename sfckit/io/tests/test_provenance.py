"""Every output folder's ``dataset_description.json`` names the library versions that
computed it; the versions are read once per process and key the caches."""

import json
import platform

import numpy as np
import pandas as pd
import scipy
import sklearn

import sfckit.version as version_module
from sfckit.io.outputs import write_dataset_description
from sfckit.version import declared_dependencies, environment_record, library_versions


def test_dataset_description_names_the_library_versions(tmp_path):
    write_dataset_description(tmp_path, step="toy", parameters={"alpha": 0.05})
    generated = json.loads((tmp_path / "dataset_description.json").read_text())["GeneratedBy"][0]
    libraries = generated["Libraries"]
    assert libraries["python"] == platform.python_version()
    assert libraries["numpy"] == np.__version__
    assert libraries["scipy"] == scipy.__version__
    assert libraries["pandas"] == pd.__version__
    assert libraries["scikit-learn"] == sklearn.__version__
    assert set(declared_dependencies()) <= set(libraries)
    # the libraries are not parameters: the parameter hash does not see them
    assert generated["Parameters"] == {"alpha": 0.05}


def test_every_runtime_dependency_is_declared_and_extras_are_not():
    names = declared_dependencies()
    for name in ("numpy", "scipy", "pandas", "scikit-learn", "nibabel", "nilearn"):
        assert name in names
    for name in ("statsmodels", "xgboost-cpu", "patsy"):
        assert name in names
    assert "pytest" not in names and "econml" not in names and "sphinx" not in names


def test_versions_are_read_once_per_process(monkeypatch):
    calls: list[str] = []
    real = version_module.version

    def counting(name):
        calls.append(name)
        return real(name)

    version_module._library_versions.cache_clear()
    monkeypatch.setattr(version_module, "version", counting)
    try:
        first = library_versions()
        first["numpy"] = "changed by a caller"
        second = library_versions()
    finally:
        version_module._library_versions.cache_clear()
    assert len(calls) == len(declared_dependencies())
    assert second["numpy"] == np.__version__  # callers get a copy


def test_a_missing_library_is_named_not_an_error(monkeypatch):
    monkeypatch.setattr(version_module, "declared_dependencies", lambda: ["numpy", "no-such-dist"])
    version_module._library_versions.cache_clear()
    try:
        versions = library_versions()
    finally:
        version_module._library_versions.cache_clear()
    assert versions == {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "no-such-dist": "not installed",
    }


def test_the_environment_record_has_sfckit_and_the_libraries():
    record = environment_record()
    assert record["sfckit"] == version_module.__version__
    assert record["numpy"] == np.__version__
