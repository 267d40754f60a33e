"""Sweeps as Optuna studies: the study key, storages (journal file or a database), the sampler,
the study's creation and its summary."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import optuna
from optuna.trial import TrialState

from uhecr import provenance
from uhecr.search.pruners import pruner_config
from uhecr.search.schedule import enqueue_slots, finished_slots, killed_trials
from uhecr.search.servers import check_reachable
from uhecr.search.tracking import import_mlflow, run_exists
from uhecr.spaces import parse_space

log = logging.getLogger(__name__)


def sweep_key(
    model: str,
    model_cfg: dict,
    features: list[str],
    search_cfg: dict,
    seed: int,
    data_fingerprint: dict,
) -> str:
    """Hash of everything a sweep's results depend on: the study is named after it.

    Space, fixed parameters, budget, features, data and split (via ``data_fingerprint``, the
    split summary with the table's and the split ids' SHA-256), seed, sampler, pruner, trials
    per batch and the training subsample. A change of any of them gives a new study, never another
    configuration's trials; the same inputs give the same study, so a killed worker resumes it.
    """
    relevant = {
        "model": model,
        # The pruner counts once, merged with search.pruner (below).
        "config": {k: v for k, v in model_cfg.items() if k not in ("space", "pruner")},
        # Parameters are drawn in name order (spaces.parse_space): the keys' order is no input.
        "space": dict(model_cfg.get("space", {})),
        "features": list(features),
        "sampler": search_cfg.get("sampler"),
        "pruner": pruner_config(model, model_cfg, search_cfg),
        "max_train_samples": search_cfg.get("max_train_samples"),
        "trials_per_batch": search_cfg.get("trials_per_batch"),
        "seed": seed,
        "data": data_fingerprint,
    }
    text = json.dumps(relevant, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def storage_for(storage_cfg: str | None, journal_path: str | Path):
    """Journal file by default; an RDB URL (``${VAR}`` expanded from the environment) otherwise."""
    if not storage_cfg or storage_cfg == "journal":
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        Path(journal_path).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(journal_path)))
    url = os.path.expandvars(storage_cfg)
    if "${" in url or "$" in url.split("://", 1)[-1].split("@")[0]:
        raise ValueError(
            f"config key search.storage: unset environment variable in {storage_cfg!r}"
        )
    check_reachable(url, "search.storage")
    return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})


def make_sampler(cfg: dict, seed: int):
    name = cfg.get("name", "tpe")
    if name == "tpe":
        return optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=int(cfg.get("n_startup_trials", 10))
        )
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"config key search.sampler.name: unknown sampler {name!r} (tpe | random)")


def create_study(
    model: str,
    study_name: str,
    storage,
    tracking_uri: str,
    experiment: str,
    config: dict,
    seed: int,
) -> dict:
    """Create (or load) the Optuna study, with its budget's slots, and the MLflow parent run
    of one sweep."""
    study = optuna.create_study(
        study_name=study_name, storage=storage, direction="maximize", load_if_exists=True
    )
    enqueue_slots(study, config["n_trials"])
    mlflow = import_mlflow(tracking_uri)
    exp = mlflow.get_experiment_by_name(experiment)
    if exp is None:
        raise RuntimeError(
            f"MLflow experiment {experiment!r} does not exist in {provenance.redact(tracking_uri)}"
            " (rule init_tracking creates it)"
        )
    parent_id = study.user_attrs.get("mlflow_parent_run_id")
    if parent_id is not None and not run_exists(mlflow, parent_id):
        # An RDB study resumed under a new MLflow store: give it a parent run in this store.
        log.warning("MLflow parent run %s not in this store: creating a new one", parent_id)
        parent_id = None
    if parent_id is None:
        env = provenance.environment_info()
        with mlflow.start_run(experiment_id=exp.experiment_id, run_name=f"sweep-{model}") as run:
            mlflow.set_tags(
                {
                    "uhecr.model": model,
                    "uhecr.kind": "sweep",
                    "git_commit": env["git_commit"],
                    "optuna.study": study_name,
                    "seed": str(seed),
                }
            )
            mlflow.log_params({f"space.{k}": str(v) for k, v in config.get("space", {}).items()})
            mlflow.log_params({f"fixed.{k}": str(v) for k, v in config.get("fixed", {}).items()})
            mlflow.log_param("n_trials", config["n_trials"])
            mlflow.log_dict(env, "environment.json")
            parent_id = run.info.run_id
        study.set_user_attr("mlflow_parent_run_id", parent_id)
    return {
        "study_name": study_name,
        "model": model,
        "mlflow_parent_run_id": parent_id,
        "mlflow_experiment_id": exp.experiment_id,
        "n_trials": config["n_trials"],
    }


def summarise_study(
    study_info: dict, storage, model_cfg: dict, tracking_uri: str
) -> tuple[dict, object]:
    """Best parameters (suggested + fixed) and the trials table of a finished sweep, one row per
    budget slot. Both hold only what the schedule fixes (parameters, seeds, values, states),
    not which worker ran a trial, its storage number or its duration (the worker logs and
    MLflow have those), so they are the same with any number of workers and after
    interruptions."""
    import pandas as pd

    study = optuna.load_study(study_name=study_info["study_name"], storage=storage)
    n_trials = int(model_cfg["n_trials"])
    by_slot = finished_slots(study)
    missing = [s for s in range(n_trials) if s not in by_slot]
    if missing:
        raise RuntimeError(
            f"study {study_info['study_name']}: slot(s) {missing} of {n_trials} not finished "
            "(see the worker logs; rerunning the workflow resumes the sweep)"
        )
    slots = [by_slot[s] for s in range(n_trials)]
    complete = [(s, t) for s, t in enumerate(slots) if t.state == TrialState.COMPLETE]
    if not complete:
        raise RuntimeError(
            f"study {study_info['study_name']}: no complete trial (see the worker logs)"
        )
    best_slot, best = max(complete, key=lambda st: (st[1].value, -st[0]))
    space = parse_space(model_cfg["space"], study_info["model"])
    params = params_from_trial(best.params, space)
    states: dict[str, int] = {}
    for t in slots:
        states[t.state.name] = states.get(t.state.name, 0) + 1
    summary = {
        "model": study_info["model"],
        "study_name": study_info["study_name"],
        "best_trial": best_slot,
        "best_val_accuracy": best.value,
        "params": {**params, **model_cfg.get("fixed", {})},
        "refit_params": json.loads(best.user_attrs["refit_params"]),
        "seed": best.user_attrs.get("seed"),
        "n_trials_budget": n_trials,
        "n_trials_counted": len(slots),
        "states": states,
    }
    mlflow = import_mlflow(tracking_uri)
    client = mlflow.tracking.MlflowClient()
    parent = study_info["mlflow_parent_run_id"]
    client.log_metric(parent, "best_val_accuracy", best.value)
    client.log_param(parent, "best_trial", best_slot)
    client.log_metric(parent, "killed_and_retried", len(killed_trials(study)))
    client.set_terminated(parent, "FINISHED")
    rows = []
    for slot, t in enumerate(slots):
        row = {
            "number": slot,
            "state": t.state.name,
            "value": t.value,
            "steps": len(t.intermediate_values),
        }
        row.update({f"params_{k}": v for k, v in sorted(t.params.items())})
        row["user_attrs_seed"] = t.user_attrs.get("seed")
        row["user_attrs_status"] = t.user_attrs.get("status")
        row["user_attrs_error"] = t.user_attrs.get("error")
        rows.append(row)
    return summary, pd.DataFrame(rows)


def params_from_trial(raw: dict, space: dict) -> dict:
    """Rebuild structured parameters (layer lists) from Optuna's flat parameter names."""
    params = {}
    for name, spec in space.items():
        if spec[0] == "layers":
            n = raw[f"{name}_layers"]
            params[name] = [raw[f"{name}_{i}"] for i in range(n)]
        elif name in raw:
            params[name] = raw[name]
    return params
