"""MLflow tracking of sweeps: the tracking URI, the experiment and parent run, one run per
trial, the sweep's progress."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from uhecr import provenance
from uhecr.search.servers import check_reachable

log = logging.getLogger(__name__)


def tracking_uri_for(configured: str | None, default_db: str | Path) -> str:
    """The configured MLflow URI, or a SQLite store (MLflow 3's file store is deprecated)."""
    if configured:
        return configured
    path = Path(default_db).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def import_mlflow(tracking_uri: str):
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    return mlflow


def run_exists(mlflow, run_id: str) -> bool:
    try:
        mlflow.tracking.MlflowClient().get_run(run_id)
    except mlflow.exceptions.MlflowException:
        return False
    return True


def init_tracking(tracking_uri: str, experiment: str, artifact_dir: str | Path | None) -> dict:
    """Create the MLflow store (its schema migration) and the experiment, once per run.

    With the local SQLite store the run artifacts go to ``artifact_dir`` (under results_dir),
    not to MLflow's default ``./mlruns`` in the working directory; a tracking server decides
    its artifact location itself (``artifact_dir`` None).
    """
    if provenance.redact(tracking_uri) != tracking_uri:
        raise ValueError(
            "config key search.tracking_uri: put no credentials in the URI (it is recorded in "
            "the run's files); give them as MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD "
            "or MLFLOW_TRACKING_TOKEN in the environment"
        )
    check_reachable(tracking_uri, "search.tracking_uri")
    mlflow = import_mlflow(tracking_uri)
    exp = mlflow.get_experiment_by_name(experiment)
    if exp is None:
        location = Path(artifact_dir).resolve().as_uri() if artifact_dir else None
        mlflow.create_experiment(experiment, artifact_location=location)
    exp = mlflow.set_experiment(experiment)
    return {
        "tracking_uri": tracking_uri,
        "experiment": experiment,
        "experiment_id": exp.experiment_id,
        "artifact_location": exp.artifact_location,
    }


def log_trial(
    mlflow,
    info: dict,
    trial,
    params: dict,
    model,
    result: dict,
    env: dict,
    seed: int,
    worker: str,
    seconds: float,
) -> None:
    with mlflow.start_run(
        experiment_id=info["mlflow_experiment_id"],
        run_name=f"trial-{trial.number}",
        parent_run_id=info["mlflow_parent_run_id"],
    ):
        from mlflow.entities import Metric, Param, RunTag

        tags = {
            "uhecr.model": info["model"],
            "uhecr.kind": "trial",
            "optuna.trial": str(trial.number),
            "optuna.state": result["state"],
            "worker": worker,
            "git_commit": env["git_commit"],
            "seed": str(seed),
            "hardware.cpu": env["hardware"]["cpu"],
        }
        now = int(time.time() * 1000)
        metrics = [
            Metric(key, float(value), now, int(h["step"]))
            for h in model.history
            for key, value in h.items()
            if key != "step" and np.isfinite(value)
        ]
        if result.get("value") is not None:
            metrics.append(Metric("best_val_accuracy", float(result["value"]), now, 0))
        metrics.append(Metric("trial_seconds", seconds, now, 0))
        # Batched requests (a store round trip per epoch slowed short trials); MLflow takes at
        # most 1000 metrics, 100 params and 100 tags, 1000 entities in all, per log_batch call.
        client = mlflow.tracking.MlflowClient()
        run_id = mlflow.active_run().info.run_id
        client.log_batch(
            run_id,
            params=[Param(k, str(v)) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        for start in range(0, len(metrics), 1000):
            client.log_batch(run_id, metrics=metrics[start : start + 1000])
        mlflow.log_dict(env["packages"], "packages.json")


def log_progress(mlflow, study_info: dict, progress: dict, worker: str) -> None:
    """Progress in the worker's log and as step metrics of the sweep's MLflow parent run."""
    best = progress["best_value"]
    log.info(
        "progress: %d/%d trials done, best validation accuracy %s (worker %s)",
        progress["done"],
        progress["budget"],
        "none yet" if best is None else f"{best:.4f} (trial {progress['best_trial']})",
        worker,
    )
    client = mlflow.tracking.MlflowClient()
    parent = study_info["mlflow_parent_run_id"]
    client.log_metric(parent, "trials_done", progress["done"], step=progress["done"])
    if best is not None:
        client.log_metric(parent, "best_val_accuracy_so_far", best, step=progress["done"])
