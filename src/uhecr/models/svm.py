"""The study's support vector machine, scaled to the sweeps' sample sizes."""

from __future__ import annotations

from uhecr.models.base import Classifier, Reporter, capped_threads, load_skops, softmax


class SVMClassifier(Classifier):
    """StandardScaler -> Nystroem kernel map (rbf/poly) -> LinearSVC; 'linear': no map."""

    name = "svm"
    label = "SVM"
    parameters = {
        "C": 1.0,
        "kernel": "linear",
        "gamma": "scale",
        "degree": 3,
        "n_components": 100,
        "max_iter": 2000,
    }
    native_modules = ("sklearn.kernel_approximation", "sklearn.svm", "scipy.linalg")

    @capped_threads
    def fit(
        self, X, y, X_val=None, y_val=None, report: Reporter = None, groups=None, groups_val=None
    ):
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.kernel_approximation import Nystroem
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import LinearSVC

        steps = [StandardScaler()]
        kernel = self.param("kernel")
        if kernel != "linear":
            gamma = self.param("gamma")
            # sklearn's SVC definitions; after standard scaling X.var() is 1, so 'scale' and
            # 'auto' coincide (as in the reference study, which also standardised first).
            if gamma in ("scale", "auto"):
                gamma = 1.0 / X.shape[1]
            steps.append(
                Nystroem(
                    kernel=kernel,
                    gamma=gamma,
                    degree=self.param("degree"),
                    n_components=int(self.param("n_components")),
                    random_state=self.seed,
                )
            )
        steps.append(
            LinearSVC(
                C=float(self.param("C")),
                max_iter=int(self.param("max_iter")),
                random_state=self.seed,
            )
        )
        self.model = make_pipeline(*steps)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model.fit(X, y)
        # Recorded, not reported: a pruner has nothing to save once the only fit is done (and
        # Hyperband would mark fully trained trials PRUNED at its first rung).
        self._report(None, 1, X_val, y_val)
        return self

    @capped_threads
    def predict_proba(self, X, groups=None):
        return softmax(self.model.decision_function(X))

    def _save_state(self, directory):
        import skops.io

        skops.io.dump(self.model, directory / "pipeline.skops")  # no pickle: safe to load
        return {}

    def _load_state(self, directory, state):
        self.model = load_skops(directory / "pipeline.skops")
