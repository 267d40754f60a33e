"""The models by config key (``models.<key>``), built from each class's own attributes: one list
to extend; the config schema's model names and the benchmarks are tested against it."""

from __future__ import annotations

import json
from pathlib import Path

from uhecr.models.autoencoders import (
    DenoisingAutoencoder,
    StackedAutoencoder,
    VariationalAutoencoder,
)
from uhecr.models.base import Classifier
from uhecr.models.boosting import ShowerFeatureXGBoost, XGBoostClassifier
from uhecr.models.deepsets import DeepSetsClassifier
from uhecr.models.svm import SVMClassifier

MODEL_CLASSES: tuple[type[Classifier], ...] = (
    SVMClassifier,
    XGBoostClassifier,
    DenoisingAutoencoder,
    StackedAutoencoder,
    VariationalAutoencoder,
    DeepSetsClassifier,
    ShowerFeatureXGBoost,
)
MODELS: dict[str, type[Classifier]] = {cls.name: cls for cls in MODEL_CLASSES}
LABELS: dict[str, str] = {name: cls.label for name, cls in MODELS.items()}
# Every parameter a model reads (search space or fixed): anything else in config is a typo.
PARAMETERS: dict[str, set[str]] = {name: set(cls.parameters) for name, cls in MODELS.items()}


def build(name: str, params: dict, seed: int, threads: int = 1, features=None) -> Classifier:
    """Model ``name``; ``features``: the names of X's columns (shower-level models need them)."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r} (config key models); known: {sorted(MODELS)}")
    return MODELS[name](params, seed, threads, features)


def load(directory, threads: int = 1) -> Classifier:
    """A model written by ``Classifier.save``."""
    directory = Path(directory)
    meta = json.loads((directory / "model.json").read_text())
    model = build(meta["name"], meta["params"], meta["seed"], threads, meta.get("features"))
    model._load_state(directory, meta["state"])
    return model
