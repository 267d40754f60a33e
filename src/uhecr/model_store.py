"""Trained models as MLflow models: saved once by rule ``evaluate``, applied without refitting.

A saved model is an MLflow "python_function" model directory (``MLmodel``, a signature naming
every input feature and output probability column, pinned pip requirements, the ``uhecr``
package code and the classifier's own files written by ``Classifier.save``), loadable with
``mlflow.pyfunc.load_model`` anywhere the requirements are installed. ``model.json`` inside
records what the model was trained on (feature list, station selection, fit record), so the
apply step can check new data against it.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd

from uhecr.showers import CLASSES

PROBABILITY_COLUMNS = [f"p_{c}" for c in CLASSES]
# The checksums of a saved model's files, written last by save and checked by every load.
MANIFEST = "MANIFEST.sha256"
SNAKEMAKE_MARKER = ".snakemake_timestamp"  # written by Snakemake into directory outputs
PACKAGE_DIR = Path(__file__).resolve().parent
# What loading a saved model needs (versions: those of this environment, pinned at save time).
REQUIREMENTS = (
    "mlflow",
    "numpy",
    "pandas",
    "scikit-learn",
    "skops",
    "xgboost-cpu",
    "tensorflow-cpu",
    "keras",
)


class StationClassifier(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper: a DataFrame of stations with the training features (and, for shower-level
    models, ``shower_id``) in, class probabilities per station out."""

    def load_context(self, context):
        from uhecr import models

        directory = Path(context.artifacts["classifier"])
        self.info = json.loads((directory / "training.json").read_text())
        self.classifier = models.load(directory)

    def predict(self, context, model_input, params=None):
        features = self.info["features"]
        missing = [f for f in features if f not in model_input.columns]
        if missing:
            raise KeyError(f"model input lacks the feature columns {missing}")
        X = model_input[features].to_numpy(dtype=np.float64)
        groups = None
        if self.classifier.level == "shower":
            if "shower_id" not in model_input.columns:
                raise KeyError("a shower-level model needs the column shower_id")
            groups = model_input["shower_id"].astype(str).to_numpy()
        proba = self.classifier.predict_proba(X, groups)
        return pd.DataFrame(np.asarray(proba, dtype=np.float64), columns=PROBABILITY_COLUMNS)


def _signature(features: list[str], level: str):
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    columns = [ColSpec("double", f) for f in features]
    if level == "shower":
        columns.append(ColSpec("string", "shower_id"))
    return ModelSignature(
        inputs=Schema(columns),
        outputs=Schema([ColSpec("double", c) for c in PROBABILITY_COLUMNS]),
    )


def _pinned_requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for name in REQUIREMENTS:
        try:
            pins.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            continue
    return pins


# MLflow "model from code": the model is defined by this file, not by a pickle.
_ENTRY = """from mlflow.models import set_model

from uhecr.model_store import StationClassifier

set_model(StationClassifier())
"""


def save(classifier, training: dict, path: str | Path, example: pd.DataFrame | None = None):
    """Save a fitted classifier as an MLflow model at ``path`` (which must not exist yet).

    ``training`` must hold ``features`` (input columns, in order) and may hold anything else
    that identifies the training (fit record, station selection, config hash); ``example``:
    a few input rows stored with the model as its input example."""
    import warnings

    if "features" not in training:
        raise ValueError("model_store.save: training record without 'features'")
    with tempfile.TemporaryDirectory() as tmp:
        files = Path(tmp) / "classifier"
        classifier.save(files)
        training = {**training, "level": classifier.level}
        (files / "training.json").write_text(json.dumps(training, indent=2, default=str))
        entry = Path(tmp) / "station_classifier.py"
        entry.write_text(_ENTRY)
        with warnings.catch_warnings():  # the signature is given explicitly
            warnings.filterwarnings("ignore", message=".*type hints.*")
            mlflow.pyfunc.save_model(
                path=str(path),
                python_model=str(entry),
                artifacts={"classifier": str(files)},
                signature=_signature(list(training["features"]), classifier.level),
                input_example=example,
                code_paths=[str(PACKAGE_DIR)],
                pip_requirements=_pinned_requirements(),
            )
    write_manifest(path)


class DamagedModelError(RuntimeError):
    """A saved model whose files are not those written when it was saved."""


def write_manifest(path: str | Path) -> None:
    """Records the sha256 of every file of the saved model at ``path`` in its MANIFEST (the
    ``sha256sum`` format: ``sha256sum -c MANIFEST`` in the directory checks it too)."""
    root = Path(path)
    lines = [f"{digest}  {name}\n" for name, digest in checksums(root).items() if name != MANIFEST]
    (root / MANIFEST).write_text("".join(lines))


def verify(path: str | Path) -> None:
    """Checks a saved model against the checksums recorded when it was saved: a missing,
    truncated or altered file is an error naming the model directory, the file and the
    command that rebuilds the model. Nothing is refitted behind the user's back."""
    from uhecr.provenance import sha256_file

    root = Path(path)
    rebuild = (
        f"rebuild it with the training run's configuration: "
        f"snakemake --cores all --configfile <training config> --force {root}"
    )
    if not (root / "MLmodel").is_file():
        raise FileNotFoundError(f"{root}: not an MLflow model directory (no MLmodel file)")
    manifest = root / MANIFEST
    if not manifest.is_file():
        raise DamagedModelError(f"saved model {root}: no {MANIFEST} of its checksums; {rebuild}")
    listed = {}
    for number, line in enumerate(manifest.read_text().splitlines(), start=1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or not name:
            raise DamagedModelError(
                f"saved model {root}: line {number} of its {MANIFEST} is not '<sha256>  <file>' "
                f"(the manifest is damaged); {rebuild}"
            )
        listed[name] = digest
    # Every file of the model must be listed: a manifest that lost a line (or was emptied)
    # would otherwise let that file change unchecked. Not part of the model: Python's byte-code
    # caches, and the marker Snakemake writes into a directory output when its job ends.
    present = {
        str(f.relative_to(root))
        for f in root.rglob("*")
        if f.is_file()
        and f.name not in (MANIFEST, SNAKEMAKE_MARKER)
        and "__pycache__" not in f.parts
    }
    unlisted = sorted(present - set(listed))
    if unlisted:
        raise DamagedModelError(
            f"saved model {root}: file {unlisted[0]} is not in its {MANIFEST} "
            f"({len(unlisted)} such file(s): added after saving, or the manifest lost lines); "
            f"{rebuild}"
        )
    for name, digest in listed.items():
        file = root / name
        if not file.is_file():
            raise DamagedModelError(f"saved model {root}: file {name} is missing; {rebuild}")
        if sha256_file(file) != digest:
            raise DamagedModelError(
                f"saved model {root}: file {name} differs from the one saved (truncated, "
                f"damaged or replaced: its sha256 is not the {MANIFEST}'s); {rebuild}"
            )


def load(path: str | Path):
    """The saved model, verified against its checksums (verify), as an MLflow pyfunc model
    (``.predict(DataFrame)`` -> probabilities)."""
    verify(path)
    return mlflow.pyfunc.load_model(str(path))


def training_record(path: str | Path) -> dict:
    """What a saved model was trained on (``training.json``), without loading the model; the
    model's files are verified first."""
    verify(path)
    matches = list(Path(path).glob("artifacts/**/training.json"))
    if len(matches) != 1:
        raise FileNotFoundError(f"{path}: expected one training.json in the model artifacts")
    return json.loads(matches[0].read_text())


def checksums(path: str | Path) -> dict[str, str]:
    """sha256 of every file of a saved model, by relative path (for provenance records)."""
    from uhecr.provenance import sha256_file

    root = Path(path)
    return {
        str(f.relative_to(root)): sha256_file(f) for f in sorted(root.rglob("*")) if f.is_file()
    }
