"""Model files: only the exact types sfckit train writes are loaded; crafted files that
name anything else (code-running callables, types sfckit never writes) are refused before a
single object is built, with one line naming the type and exit status 2."""

import io
import json
import zipfile

import pytest

from sfckit.cli import main
from sfckit.declarations.settings import TrainSettings
from sfckit.learn.models import MODELS
from sfckit.steps.model_file import TRUSTED_TYPES, file_types, load_model
from sfckit.steps.train import train_model


@pytest.fixture(scope="module")
def models(tiny_study, tmp_path_factory):
    """One model file per registered model kind, trained on the tiny study's features."""
    _, results, _ = tiny_study
    manifest = json.loads((results / "study.json").read_text())["manifest"]
    features = results / "features" / "blocks" / "sfc.tsv"
    folder = tmp_path_factory.mktemp("models")
    paths = {}
    for name in MODELS:
        path = folder / f"{name}.skops"
        train_model(
            features,
            manifest,
            path,
            settings=TrainSettings(positive="TRD", negative="nTRD", model=name, inner=3),
        )
        paths[name] = path
    path = folder / "combat.skops"  # ComBat inside the saved pipeline
    train_model(
        features,
        manifest,
        path,
        settings=TrainSettings(
            positive="TRD",
            negative="nTRD",
            model="logistic",
            inner=3,
            site_column="site",
            harmonize="combat",
            harmonize_covariates=("age",),
        ),
    )
    paths["combat"] = path
    return features, paths


def test_every_model_kind_writes_only_trusted_types_and_loads(models):
    _, paths = models
    seen = set()
    for name, path in paths.items():
        types = file_types(path)
        assert types <= TRUSTED_TYPES, (name, sorted(types - TRUSTED_TYPES))
        pipeline, metadata = load_model(path)
        assert metadata["model"] == name.replace("combat", "logistic")
        assert hasattr(pipeline, "predict_proba")
        seen |= types
    assert "sklearn.pipeline.Pipeline" in seen and "xgboost.sklearn.XGBClassifier" in seen
    # the allow-list is tight: every class on it is in some file train writes (scalars
    # such as builtins.int are stored inline and never named in a schema)
    inline = {t for t in TRUSTED_TYPES if t.startswith("builtins.") or t.count(".") == 1}
    assert TRUSTED_TYPES - inline <= seen, sorted(TRUSTED_TYPES - inline - seen)


def test_train_records_the_sha256_and_score_prints_it(models, tmp_path, capsys):
    import hashlib

    features, paths = models
    path = paths["logistic"]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert (path.parent / "logistic.skops.sha256").read_text() == f"{digest}  logistic.skops\n"
    args = ["score", "--model", str(path), "--features", str(features), "--out"]
    assert main([*args, str(tmp_path / "s.tsv")]) == 0
    assert f"model SHA-256: {digest}" in capsys.readouterr().out
    assert json.loads((tmp_path / "s.json").read_text())["model_sha256"] == digest
    changed = tmp_path / "logistic.skops"
    changed.write_bytes(path.read_bytes() + b"\0")
    (tmp_path / "logistic.skops.sha256").write_text(f"{digest}  logistic.skops\n")
    assert main([*args[:2], str(changed), *args[3:], str(tmp_path / "t.tsv")]) == 2
    assert "differs from the one recorded at training" in capsys.readouterr().err


def crafted(source, target, module: str, name: str):
    """A copy of a model file whose ANOVA scoring function is replaced by ``module.name``."""
    with zipfile.ZipFile(source) as archive:
        members = {item: archive.read(item) for item in archive.namelist()}
    schema = json.loads(members["schema.json"])
    replaced = []

    def visit(node):
        if isinstance(node, dict):
            if node.get("__class__") == "f_classif":
                node["__module__"], node["__class__"] = module, name
                replaced.append(node)
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    assert replaced, "the model file has no f_classif node to replace"
    members["schema.json"] = json.dumps(schema).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for item, data in members.items():
            archive.writestr(item, data)
    target.write_bytes(buffer.getvalue())
    return target


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("builtins", "exec"),
        ("builtins", "eval"),
        ("os", "system"),
        ("subprocess", "Popen"),
        ("operator", "attrgetter"),
        ("functools", "partial"),
        ("importlib", "import_module"),
        ("sklearn.ensemble._forest", "RandomForestClassifier"),
    ],
)
def test_crafted_model_files_are_refused_naming_the_type(models, tmp_path, capsys, module, name):
    features, paths = models
    path = crafted(paths["logistic"], tmp_path / "evil.skops", module, name)
    out = tmp_path / "scores.tsv"
    status = main(["score", "--model", str(path), "--features", str(features), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert status == 2 and err.count("\n") == 0 and "Traceback" not in err
    assert f"{module}.{name}" in err and "sfckit train never writes" in err
    assert not out.exists()
