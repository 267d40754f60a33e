"""Gradient boosting (XGBoost): the study's station classifier and one on shower features."""

from __future__ import annotations

import numpy as np

from uhecr.models.base import Classifier, Reporter, capped_threads
from uhecr.showers import N_CLASSES, shower_codes, shower_labels


class XGBoostClassifier(Classifier):
    """Multi-class gradient boosting with early stopping on the validation error."""

    name = "xgboost"
    label = "XGBoost"
    parameters = {
        "num_boost_round": 100,
        "learning_rate": 0.3,
        "max_depth": 6,
        "gamma": 0.0,
        "min_child_weight": 1.0,
        "subsample": 1.0,
        "tree_method": "hist",
        "device": "cpu",
    }
    native_modules = ("xgboost",)
    report_every = 10
    resource = ("num_boost_round", parameters["num_boost_round"])

    @classmethod
    def steps(cls, amount: int) -> int:
        return int(amount) // cls.report_every

    @capped_threads
    def fit(
        self, X, y, X_val=None, y_val=None, report: Reporter = None, groups=None, groups_val=None
    ):
        import xgboost as xgb

        n_rounds = int(self.param("num_boost_round"))
        booster_params = {
            "objective": "multi:softprob",
            "num_class": N_CLASSES,
            "eval_metric": "merror",
            "learning_rate": float(self.param("learning_rate")),
            "max_depth": int(self.param("max_depth")),
            "gamma": float(self.param("gamma")),
            "min_child_weight": float(self.param("min_child_weight")),
            "subsample": float(self.param("subsample")),
            "tree_method": self.param("tree_method"),
            "device": self.param("device"),
            "seed": self.seed,
            "nthread": self.threads,
        }
        dtrain = xgb.DMatrix(X, label=y, nthread=self.threads)
        callbacks, evals = [], []
        if X_val is not None:
            dval = xgb.DMatrix(X_val, label=y_val, nthread=self.threads)
            evals = [(dval, "validation")]
            # Reference study: patience = max(10, n_rounds // 10).
            callbacks.append(
                xgb.callback.EarlyStopping(rounds=max(10, n_rounds // 10), save_best=True)
            )
            callbacks.append(_validation_reporter(self, report))
        self.booster = xgb.train(
            booster_params,
            dtrain,
            num_boost_round=n_rounds,
            evals=evals,
            callbacks=callbacks,
            verbose_eval=False,
        )
        return self

    def refit_params(self) -> dict:
        # Early stopping chose the number of rounds: keep it when refitting without validation.
        best = self.booster.attributes().get("best_iteration")
        if best is None:
            return dict(self.params)
        return {**self.params, "num_boost_round": int(best) + 1}

    @capped_threads
    def predict_proba(self, X, groups=None):
        import xgboost as xgb

        return self.booster.predict(xgb.DMatrix(X, nthread=self.threads))

    def _save_state(self, directory):
        self.booster.save_model(directory / "booster.ubj")
        return {}

    def _load_state(self, directory, state):
        import xgboost as xgb

        self.booster = xgb.Booster(params={"nthread": self.threads})
        self.booster.load_model(directory / "booster.ubj")


def _validation_reporter(model: XGBoostClassifier, report: Reporter):
    """xgboost callback: report 1 - merror after every ``report_every`` rounds, the step being the
    number of such blocks completed (the pruners' resource)."""
    import xgboost as xgb

    class ValidationReporter(xgb.callback.TrainingCallback):
        def after_iteration(self, booster, epoch, evals_log):
            rounds = epoch + 1
            if rounds % model.report_every == 0 and "validation" in evals_log:
                accuracy = 1.0 - evals_log["validation"]["merror"][-1]
                model._record(report, rounds // model.report_every, accuracy)
            return False

    return ValidationReporter()


class ShowerFeatureXGBoost(Classifier):
    """XGBoost on engineered shower features (``uhecr.features.shower_features``: lateral
    distribution and rise-time slopes, S(1000) vs energy, multiplicity, ...), one row per shower;
    the same boosting, early stopping and reporting as the station XGBoost."""

    name = "xgboost_shower"
    label = "XGBoost (shower features)"
    parameters = XGBoostClassifier.parameters
    native_modules = ("xgboost",)
    level = "shower"
    resource = XGBoostClassifier.resource
    steps = XGBoostClassifier.steps

    def _showers(self, X, groups):
        from uhecr.features import shower_features

        if self.features is None:
            raise ValueError(f"{self.name} needs the feature names (config key models.features)")
        codes = shower_codes(groups, len(X), self.name)
        return shower_features(np.asarray(X), self.features, codes), codes

    @capped_threads
    def fit(
        self, X, y, X_val=None, y_val=None, report: Reporter = None, groups=None, groups_val=None
    ):
        F, codes = self._showers(X, groups)
        y_s = shower_labels(y, codes, self.name)
        F_val = y_val_s = None
        if X_val is not None:
            F_val, codes_val = self._showers(X_val, groups_val)
            y_val_s = shower_labels(y_val, codes_val, self.name)
        self.inner = XGBoostClassifier(self.params, self.seed, self.threads)
        self.inner.fit(F, y_s, F_val, y_val_s, report=report)
        self.history = self.inner.history
        return self

    def refit_params(self) -> dict:
        return self.inner.refit_params()

    @capped_threads
    def predict_proba(self, X, groups=None):
        F, codes = self._showers(X, groups)
        return self.inner.predict_proba(F)[codes]

    def _save_state(self, directory):
        return self.inner._save_state(directory)

    def _load_state(self, directory, state):
        self.inner = XGBoostClassifier(self.params, self.seed, self.threads)
        self.inner._load_state(directory, state)
