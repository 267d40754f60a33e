"""The interface every model implements (``Classifier``) and the helpers all models share.

A model class declares what the registry (``uhecr.models.registry``), the config validation
(``uhecr.spaces``), the sweeps and the reports need to know about it as class attributes:
``name`` (the config key), ``label`` (shown in tables and figures), ``level`` ("station" or
"shower"), ``parameters`` (every parameter it reads, with its default: anything else in the
config is a typo) and ``resource`` (the parameter that sets how long a fit trains).
"""

from __future__ import annotations

import functools
import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from uhecr.showers import first_station, shower_codes

Reporter = Callable[[int, float], None] | None


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def capped_threads(method):
    """``method`` run with the native BLAS and OpenMP pools capped at the model's ``threads``.
    Snakemake starts a rule's jobs with ``OMP_NUM_THREADS`` etc. set to its threads; any other
    caller (a notebook, the MLflow pyfunc, the benchmarks, the tests) would get pools of every
    core (XGBoost's DMatrix, scikit-learn's and numpy's BLAS calls). The cap is process-wide:
    models used from several Python threads at once share it. Every model's ``fit`` and
    ``predict_proba`` carry it (tests/test_models.py checks)."""

    @functools.wraps(method)
    def limited(self, *args, **kwargs):
        from threadpoolctl import threadpool_limits

        for module in self.native_modules:  # the cap reaches only libraries already loaded
            importlib.import_module(module)
        with threadpool_limits(limits=self.threads):
            return method(self, *args, **kwargs)

    limited.caps_threads = True
    return limited


def load_skops(path: Path):
    """A scikit-learn object written by ``skops.io.dump``; any type skops does not trust by
    default (none for the pipelines written here) is refused rather than trusted blindly."""
    import skops.io

    untrusted = skops.io.get_untrusted_types(file=path)
    if untrusted:
        raise ValueError(f"{path}: refusing to load untrusted types {untrusted}")
    return skops.io.load(path)


class Classifier:
    """Shared behaviour; subclasses implement ``fit``, ``predict_proba``, ``_save_state`` and
    ``_load_state`` (see ``uhecr.models`` for the interface)."""

    name: ClassVar[str] = "base"
    label: ClassVar[str] = "base"
    level: ClassVar[str] = "station"
    # Every parameter the model reads (search space or fixed), with the value it takes when
    # the config does not set it.
    parameters: ClassVar[dict[str, Any]] = {}
    # The parameter that sets how long a fit trains, and its default: its steps are what
    # ``report`` counts (the pruners' resource). None: one fit, no steps reported.
    resource: ClassVar[tuple[str, int] | None] = None
    # Modules that load the native BLAS/OpenMP libraries the model uses: imported before the
    # thread cap of fit and predict_proba, which reaches only libraries already loaded.
    native_modules: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def steps(cls, amount: int) -> int:
        """The last step ``report`` reaches in a full fit of ``amount`` (epochs: one each)."""
        return int(amount)

    def __init__(self, params: dict, seed: int, threads: int = 1, features=None):
        self.params = dict(params)
        self.seed = int(seed)
        self.threads = max(1, int(threads))
        self.features = list(features) if features is not None else None
        self.history: list[dict] = []

    def param(self, name: str):
        """Parameter ``name`` as configured, else its declared default."""
        if name not in self.parameters:
            raise KeyError(f"{self.name} declares no parameter {name!r}")
        return self.params.get(name, self.parameters[name])

    def fit(
        self, X, y, X_val=None, y_val=None, report: Reporter = None, groups=None, groups_val=None
    ):  # pragma: no cover
        raise NotImplementedError

    def predict_proba(self, X, groups=None) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def predict(self, X, groups=None) -> np.ndarray:
        return np.argmax(self.predict_proba(X, groups), axis=1)

    def refit_params(self) -> dict:
        """Parameters for refitting on train + validation without a validation set."""
        return dict(self.params)

    def score(self, X, y, groups=None) -> float:
        """Accuracy per station; per shower (one vote each) for shower-level models."""
        correct = self.predict(X, groups) == np.asarray(y)
        if self.level == "shower":
            correct = correct[first_station(shower_codes(groups, len(correct), self.name))]
        return float(np.mean(correct))

    def save(self, directory) -> None:
        """Write the fitted model to ``directory``: ``model.json`` (name, parameters, seed and
        what the model needs beyond its files) plus the model's own files; ``load`` reads it."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = self._save_state(directory)
        meta = {
            "name": self.name,
            "params": self.params,
            "seed": self.seed,
            "features": self.features,
            "state": state,
        }
        (directory / "model.json").write_text(json.dumps(meta, indent=2))

    def _save_state(self, directory: Path) -> dict:  # pragma: no cover
        raise NotImplementedError

    def _load_state(self, directory: Path, state: dict) -> None:  # pragma: no cover
        raise NotImplementedError

    def _record(self, report: Reporter, step: int, accuracy: float, **extra) -> None:
        """Validation accuracy after ``step``: kept in ``history`` and passed to ``report``."""
        self.history.append({"step": step, "val_accuracy": accuracy, **extra})
        if report is not None:
            report(step, accuracy)

    def _report(self, report: Reporter, step: int, X_val, y_val, groups_val=None, **extra) -> None:
        if X_val is None:
            return
        self._record(report, step, self.score(X_val, y_val, groups_val), **extra)
