"""The study's five station classifiers and two shower-level classifiers behind one interface.

Modules: ``base`` (the interface, ``Classifier``), ``registry`` (models by config key), one per
family (``svm``, ``boosting``, ``autoencoders``, ``deepsets``), ``keras_layers`` and
``keras_training`` (TensorFlow plumbing). A new model: a ``Classifier`` subclass in a family
module (or a new one), listed in ``registry.MODEL_CLASSES`` (docs/architecture.md).

Every model is built as ``build(name, params, seed, threads, features)`` and offers::

    fit(X_train, y_train, X_val=None, y_val=None, report=None, groups=None, groups_val=None)
    predict(X, groups=None) -> labels;  predict_proba(X, groups=None) -> (n, n_classes)
    score(X, y, groups=None) -> accuracy
    save(directory);  load(directory) -> the fitted model, predicting exactly as before

Rows are always stations (columns: ``features``, config ``models.features``); ``groups`` gives
each station's shower. Station-level models (``level = "station"``) ignore it. Shower-level
models (``level = "shower"``: Deep Sets over a shower's stations, XGBoost on engineered shower
features) classify each shower once and return its probabilities on every one of its stations;
their ``score`` is the accuracy per shower (one vote each), which is what their sweeps optimise.

``report(step, val_accuracy)`` is called when validation data is given, with ``step`` the training
resource used so far (the pruners' unit): epochs completed (neural networks, 1, 2, ...), blocks of
``report_every`` boosting rounds completed (XGBoost); the SVM, trained in one fit, reports
nothing (its validation accuracy is in ``history``). It may raise (e.g.
``optuna.TrialPruned``) to stop training. Search, evaluation
and reporting use only this interface.

Scalers are fitted on the training data only. Autoencoders classify by training one autoencoder
per class and choosing the class with the lowest reconstruction error (reference study,
Sec. 3.6.4); their ``predict_proba`` is a softmax of minus the raw errors over one common
temperature, so its most probable class is the lowest-error class. ``threads`` (the rule's
``threads:``) sets XGBoost's ``nthread`` and TensorFlow's intra/inter-op thread pools, and caps the
native BLAS and OpenMP pools (which default to every core) during ``fit`` and ``predict_proba``.
"""

from __future__ import annotations

from uhecr.models.base import Classifier, Reporter
from uhecr.models.registry import LABELS, MODELS, PARAMETERS, build, load

__all__ = ["LABELS", "MODELS", "PARAMETERS", "Classifier", "Reporter", "build", "load"]
