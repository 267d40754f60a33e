"""Hyper-parameter sweeps: Optuna studies shared by several worker jobs, tracked in MLflow.

Search spaces use the reference study's notation, as strings in config:
``loguniform(a, b)``, ``uniform(a, b)``, ``choice([...])``, ``range(a, b)`` (Python range: ``b`` is
excluded). Two structured forms exist:

* conditional: ``{distribution: "range(2, 5)", when: {kernel: poly}}``;
* layer sizes: ``{layers: "range(2, 5)", units: "range(2, 20)"}`` -> a list of ``layers`` sizes.

Budget: exactly ``n_trials`` trials are evaluated per study, whatever the number of workers.
Trial numbers are assigned atomically by the storage; a trial runs only if fewer than
``n_trials`` counted trials have smaller numbers (counted: complete, pruned, running, or failed
with an error). A worker that restarts marks its own unfinished trials ``killed`` (not counted)
and re-enqueues their parameters, so nothing is lost or evaluated twice.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import TrialState

from uhecr import models, provenance
from uhecr.spaces import parse_space, suggest

log = logging.getLogger(__name__)

NOT_COUNTED = ("killed", "over_budget")


# --------------------------------------------------------------------------- storage & study
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
    split summary with the table's and the split ids' SHA-256), seed, sampler, pruner and the
    training subsample. A change of any of them gives a new study, never another
    configuration's trials; the same inputs give the same study, so a killed worker resumes it.
    """
    relevant = {
        "model": model,
        # The pruner counts once, merged with search.pruner (below).
        "config": {k: v for k, v in model_cfg.items() if k not in ("space", "pruner")},
        # The space's order is the order of the suggestions: it is kept, not sorted.
        "space": list(model_cfg.get("space", {}).items()),
        "features": list(features),
        "sampler": search_cfg.get("sampler"),
        "pruner": pruner_config(model, model_cfg, search_cfg),
        "max_train_samples": search_cfg.get("max_train_samples"),
        "seed": seed,
        "data": data_fingerprint,
    }
    text = json.dumps(relevant, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def tracking_uri_for(configured: str | None, default_db: str | Path) -> str:
    """The configured MLflow URI, or a SQLite store (MLflow 3's file store is deprecated)."""
    if configured:
        return configured
    path = Path(default_db).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


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


class SlotHyperbandPruner(optuna.pruners.HyperbandPruner):
    """Optuna's Hyperband with each trial's bracket drawn from its budget slot (user attribute
    ``seed``: the sweep's seed + the slot), not its number, and killed trials in no bracket: a
    killed trial's retry (a new number, the same slot and seeds) lands in the bracket the trial
    had and competes with the same trials, so an interrupted one-worker sweep prunes exactly
    like an uninterrupted one."""

    def prune(self, study, trial) -> bool:
        attrs = study._storage.get_study_user_attrs(study._study_id)
        self._killed = {int(k.split("_", 1)[1]) for k in attrs if k.startswith("killed_")}
        return super().prune(study, trial)

    def _get_bracket_id(self, study, trial) -> int:
        if len(self._pruners) == 0:
            return 0
        if trial.number in getattr(self, "_killed", ()):
            return -1  # matches no bracket: its rung values compete with nothing
        # From the trial's seed (the sweep's seed + its slot), not the study name as in Optuna:
        # the name hashes the feature table, whose source paths name the results folder, so
        # the same config run in another folder would put trials in other brackets.
        n = binascii.crc32(str(trial.user_attrs.get("seed", trial.number)).encode())
        n %= self._total_trial_allocation_budget
        for bracket_id in range(self._n_brackets):
            n -= self._trial_allocation_budgets[bracket_id]
            if n < 0:
                return bracket_id
        raise AssertionError("unreachable: the budgets add up to the total")


def max_steps(model: str, model_cfg: dict) -> int:
    """The most steps a trial of this sweep can report (``models.Classifier.steps`` of the
    longest training its fixed parameters or space allow): Hyperband's ``max_resource: auto``.
    Optuna's own "auto" takes the steps of the trials complete when a worker first prunes, which
    differ between workers and in a resumed worker whenever trials differ in length (boosting
    rounds in the space, early stopping): their brackets would then differ."""
    cls = models.MODELS[model]
    if cls.resource is None:
        return 1
    name, default = cls.resource
    space = parse_space(model_cfg.get("space", {}), model)
    key = f"models.{model}.space.{name}"
    if name in model_cfg.get("fixed", {}):
        amounts, key = [model_cfg["fixed"][name]], f"models.{model}.fixed.{name}"
    elif name not in space:
        amounts = [default]
    elif space[name][0] == "layers":
        raise ValueError(f"config key {key}: {name} is a number, not layer sizes")
    else:
        dist = space[name][1]
        if dist.kind == "choice":
            amounts = list(dist.args[0])
        else:  # range excludes its upper bound, (log)uniform includes it
            amounts = [dist.args[1] - (dist.kind == "range")]
        if space[name][0] == "when":  # trials its condition leaves out train the default
            amounts.append(default)
    try:
        return max(1, max(cls.steps(int(amount)) for amount in amounts))
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"config key {key}: {name} must be a number ({exc})") from exc


# The settings each pruner reads (resolve_pruner); search.pruner may hold others, so that
# switching its name is a one-word change, but a model's own pruner may not.
PRUNER_SETTINGS = {
    "median": {"name", "n_startup_trials", "n_warmup_steps"},
    "hyperband": {"name", "min_resource", "max_resource", "reduction_factor"},
    "successive_halving": {"name", "min_resource", "reduction_factor"},
    "none": {"name"},
}


def pruner_config(model: str, model_cfg: dict, search_cfg: dict) -> dict:
    """The pruner settings one model's sweeps use, as configured (Hyperband's "auto" kept), and
    only those: the keys of ``models.<model>.pruner`` over those of ``search.pruner``, cut to
    the keys the resulting pruner reads. ``{"name": "none"}`` where ``search.pruner.name`` is
    none (it turns pruning off for every model) or the model reports no steps (the SVM). The
    sweep key and the sweep jobs' params hash this, so a setting the model's pruner does not
    read changes no study and reruns nothing. A step is a different amount of training per
    model (an epoch, 10 boosting rounds), hence a model's own settings.

    Raises ValueError naming the config key for a model's own setting that would be ignored."""
    own = model_cfg.get("pruner") or {}
    shared = search_cfg.get("pruner") or {}
    if models.MODELS[model].resource is None:
        if own and own != {"name": "none"}:
            raise ValueError(
                f"config key models.{model}.pruner: {model} trains in one fit and reports no "
                "step, so it is never pruned"
            )
        return {"name": "none"}
    if shared.get("name") == "none":  # pruning off for every model
        if "name" in own:  # still checked, so that switching search.pruner back cannot fail
            _check_own_pruner(model, own, own["name"])
        return {"name": "none"}
    merged = {**shared, **own}
    name = merged.get("name", "median")
    reads = _check_own_pruner(model, own, name)
    if reads is None:  # an unknown name: resolve_pruner names the key
        return merged
    return {k: merged[k] for k in sorted(merged) if k in reads}


def _check_own_pruner(model: str, own: dict, name: str) -> set | None:
    """The settings pruner ``name`` reads (None: unknown name); raises ValueError for a key of
    the model's own pruner settings that it does not read."""
    reads = PRUNER_SETTINGS.get(name)
    unread = sorted(set(own) - reads) if reads is not None else []
    if unread:
        raise ValueError(
            f"config key models.{model}.pruner.{unread[0]}: the {name} pruner does not read "
            f"it (it reads {sorted(reads)}; an overlay merges dicts: models.{model}.pruner: "
            "null drops the model's own settings)"
        )
    return reads


def model_pruner(model: str, model_cfg: dict, search_cfg: dict) -> dict:
    """The resolved pruner of one model's sweeps (``resolve_pruner`` over ``pruner_config``,
    Hyperband's resource from the model's space); raises ValueError naming the config key."""
    own = model_cfg.get("pruner") or {}

    def key(setting: str) -> str:  # where a setting comes from, and for which model
        if setting in own:
            return f"models.{model}.pruner.{setting}"
        return f"search.pruner.{setting}" + (f" (models.{model})" if own else "")

    cfg = pruner_config(model, model_cfg, search_cfg)
    return resolve_pruner(cfg, max_steps(model, model_cfg), key)


def _search_pruner_key(setting: str) -> str:
    return f"search.pruner.{setting}"


def resolve_pruner(cfg: dict, steps: int | None = None, key=_search_pruner_key) -> dict:
    """The pruner settings with every default filled in and Hyperband's ``max_resource: auto``
    replaced by ``steps`` (``max_steps``: the most a trial can report) where given; a worker
    records what it pruned with. ``key``: setting -> the config key errors name."""
    name = cfg.get("name", "median")
    if name == "median":
        return {
            "name": name,
            "n_startup_trials": int(cfg.get("n_startup_trials", 5)),
            "n_warmup_steps": int(cfg.get("n_warmup_steps", 5)),
        }
    if name in ("hyperband", "successive_halving"):
        out = {
            "name": name,
            "min_resource": int(cfg.get("min_resource", 1)),
            "reduction_factor": int(cfg.get("reduction_factor", 3)),
        }
        if name == "successive_halving":
            return out
        max_resource = cfg.get("max_resource", "auto")
        if max_resource == "auto" and steps is not None:
            max_resource = max(int(steps), out["min_resource"])
        if max_resource != "auto" and int(max_resource) < out["min_resource"]:
            # Optuna would build no bracket and fail at the first report (division by zero).
            raise ValueError(
                f"config key {key('max_resource')}: {max_resource} is below "
                f"min_resource {out['min_resource']} ({key('min_resource')})"
            )
        return {
            **out,
            "max_resource": max_resource if max_resource == "auto" else int(max_resource),
        }
    if name == "none":
        return {"name": name}
    raise ValueError(
        f"config key {key('name')}: unknown pruner {name!r} "
        "(median | hyperband | successive_halving | none)"
    )


def make_pruner(cfg: dict, steps: int | None = None):
    """The configured Optuna pruner. A step is the training resource a model reports (epochs,
    blocks of boosting rounds; ``models.py``): Hyperband and successive halving compare trials
    at rungs of min_resource x reduction_factor^k such steps. ``steps``: see
    ``resolve_pruner``."""
    cfg = resolve_pruner(cfg, steps)
    if cfg["name"] == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=cfg["n_startup_trials"], n_warmup_steps=cfg["n_warmup_steps"]
        )
    if cfg["name"] == "hyperband":
        return SlotHyperbandPruner(
            min_resource=cfg["min_resource"],
            max_resource=cfg["max_resource"],
            reduction_factor=cfg["reduction_factor"],
        )
    if cfg["name"] == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=cfg["min_resource"], reduction_factor=cfg["reduction_factor"]
        )
    return optuna.pruners.NopPruner()


def killed_trials(study) -> set[int]:
    return {int(k.split("_", 1)[1]) for k in study.user_attrs if k.startswith("killed_")}


def counted(t, killed: set[int] = frozenset()) -> bool:
    """Does trial ``t`` use one slot of the budget?"""
    if t.number in killed:
        return False
    if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING):
        return True
    return t.state == TrialState.FAIL and t.user_attrs.get("status") not in NOT_COUNTED


def slots_used(study, before: int | None = None) -> int:
    killed = killed_trials(study)
    return sum(
        1
        for t in study.get_trials(deepcopy=False)
        if (before is None or t.number < before) and counted(t, killed)
    )


def _process_start(pid: int) -> str | None:
    """Start time of a live process (clock ticks since boot): with the pid, it names the
    process (a pid alone may be reused). None when there is no such process, or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def _job_of_this_process() -> dict:
    job = os.environ.get("SLURM_JOB_ID")
    if job:
        return {"slurm_job": job}
    import socket

    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "start": _process_start(pid)}


def _still_running(job: dict) -> bool:
    import subprocess

    if "slurm_job" in job:
        out = subprocess.run(
            ["squeue", "-h", "-j", job["slurm_job"], "-o", "%T"], capture_output=True, text=True
        )
        return out.returncode == 0 and bool(out.stdout.strip())
    import socket

    if job.get("host") != socket.gethostname():
        return False  # another machine's process: SLURM job ids cover the cluster case
    start = _process_start(int(job["pid"]))
    return start is not None and start == job.get("start")


def _stop(job: dict) -> None:
    import signal
    import subprocess

    if "slurm_job" in job:
        subprocess.run(["scancel", job["slurm_job"]], check=False)
    else:
        os.kill(int(job["pid"]), signal.SIGTERM)


def claim_worker(study, worker: str, timeout_s: float = 120.0) -> dict | None:
    """Make this job the only one running worker ``worker`` of the study.

    When Snakemake itself is killed (SIGKILL, a lost login node), the worker job it started
    (a SLURM job, or a local process) keeps running; the rerun starts the same worker again.
    The job recorded for the worker is stopped first (scancel / SIGTERM) and waited for, so
    its unfinished trial is recovered once and no trial is evaluated twice. Returns the job
    that was stopped, if any."""
    key = f"worker_{worker}_job"
    previous = study.user_attrs.get(key)
    me = _job_of_this_process()
    stopped = None
    if previous and previous != me and _still_running(previous):
        log.warning("worker %s: stopping the earlier job %s that still runs", worker, previous)
        _stop(previous)
        deadline = time.time() + timeout_s
        while _still_running(previous):
            if time.time() > deadline:
                raise RuntimeError(f"worker {worker}: earlier job {previous} did not stop")
            time.sleep(1)
        stopped = previous
    study.set_user_attr(key, me)
    return stopped


def recover_own_trials(study, worker: str) -> int:
    """Mark this worker's unfinished trials (from a killed run) as killed and re-enqueue them.

    Only this worker's own trials are touched: a worker id is run by one job at a time, so its
    RUNNING trials at start-up can only be left over from a killed earlier attempt.
    """
    n = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if t.user_attrs.get("worker") == worker:
            study.set_user_attr(f"killed_{t.number}", worker)
            study.tell(t.number, state=TrialState.FAIL)
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number}, skip_if_exists=False)
            n += 1
    return n


# --------------------------------------------------------------------------- MLflow
def _mlflow(tracking_uri: str):
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    return mlflow


def _run_exists(mlflow, run_id: str) -> bool:
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
    mlflow = _mlflow(tracking_uri)
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


def create_study(
    model: str,
    study_name: str,
    storage,
    tracking_uri: str,
    experiment: str,
    config: dict,
    seed: int,
) -> dict:
    """Create (or load) the Optuna study and the MLflow parent run of one sweep."""
    study = optuna.create_study(
        study_name=study_name, storage=storage, direction="maximize", load_if_exists=True
    )
    mlflow = _mlflow(tracking_uri)
    exp = mlflow.get_experiment_by_name(experiment)
    if exp is None:
        raise RuntimeError(
            f"MLflow experiment {experiment!r} does not exist in {provenance.redact(tracking_uri)}"
            " (rule init_tracking creates it)"
        )
    parent_id = study.user_attrs.get("mlflow_parent_run_id")
    if parent_id is not None and not _run_exists(mlflow, parent_id):
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


def _log_trial(
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


def sweep_progress(study, n_trials: int) -> dict:
    """Finished trials (complete, pruned or failed and counted) against the budget, and the
    best validation accuracy so far."""
    killed = killed_trials(study)
    trials = study.get_trials(deepcopy=False)
    finished = [t for t in trials if t.state != TrialState.RUNNING and counted(t, killed)]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = max(complete, key=lambda t: (t.value, -t.number), default=None)
    return {
        "done": len(finished),
        "budget": int(n_trials),
        "best_value": None if best is None else float(best.value),
        "best_trial": None if best is None else best.number,
    }


def _log_progress(mlflow, study_info: dict, progress: dict, worker: str) -> None:
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


# --------------------------------------------------------------------------- worker
def run_worker(
    model_name: str,
    model_cfg: dict,
    data: dict,
    storage,
    study_info: dict,
    worker: str,
    search_cfg: dict,
    seed: int,
    tracking_uri: str,
    threads: int = 1,
    features: list[str] | None = None,
) -> dict:
    """Evaluate trials of one study until its budget is used; returns what this worker did.

    ``data``: {"train": (X, y, shower ids), "validation": (...)}; ``features``: X's columns."""
    space = parse_space(model_cfg["space"], model_name)
    fixed = dict(model_cfg.get("fixed", {}))
    n_trials = int(model_cfg["n_trials"])
    pruner = model_pruner(model_name, model_cfg, search_cfg)
    study = optuna.load_study(
        study_name=study_info["study_name"],
        storage=storage,
        sampler=make_sampler(search_cfg.get("sampler", {}), seed),  # replaced per trial below
        pruner=make_pruner(pruner),
    )
    stopped = claim_worker(study, worker)
    recovered = recover_own_trials(study, worker)
    mlflow = _mlflow(tracking_uri)
    env = provenance.environment_info()
    (X, y, groups), (Xv, yv, groups_val) = data["train"], data["validation"]
    done = []
    while True:
        waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        if slots_used(study) >= n_trials and not waiting:
            break
        trial = study.ask()
        if slots_used(study, before=trial.number) >= n_trials:
            trial.set_user_attr("status", "over_budget")
            study.tell(trial, state=TrialState.FAIL)
            break
        trial.set_user_attr("worker", worker)
        # Seeds from the trial's budget slot, not its number: a retry of a killed trial (a new
        # number, the same slot) and the trials after it draw and train exactly as they would
        # have without the interruption (one worker: the same sweep, the same best parameters).
        slot = slots_used(study, before=trial.number)
        study.sampler = make_sampler(
            search_cfg.get("sampler", {}),
            int(np.random.SeedSequence([seed, slot]).generate_state(1)[0]),
        )
        params = {**suggest(trial, space), **fixed}
        trial_seed = seed + slot
        trial.set_user_attr("seed", trial_seed)
        trial.set_user_attr("slot", slot)
        model = models.build(model_name, params, trial_seed, threads, features)

        def report(step, acc, trial=trial):
            trial.report(acc, step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at step {step} (val accuracy {acc:.4f})")

        start = time.perf_counter()
        try:
            model.fit(X, y, Xv, yv, report=report, groups=groups, groups_val=groups_val)
            value = model.score(Xv, yv, groups_val)
            trial.set_user_attr("refit_params", json.dumps(model.refit_params(), default=str))
            study.tell(trial, value)
            result = {"number": trial.number, "state": "COMPLETE", "value": value}
        except optuna.TrialPruned:
            study.tell(trial, state=TrialState.PRUNED)
            best = max((h["val_accuracy"] for h in model.history), default=None)
            result = {"number": trial.number, "state": "PRUNED", "value": best}
        except (
            Exception
        ) as exc:  # a bad configuration (NaN loss, ...) fails the trial, not the sweep
            log.exception("trial %d failed", trial.number)
            trial.set_user_attr("status", "error")
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:500])
            study.tell(trial, state=TrialState.FAIL)
            result = {
                "number": trial.number,
                "state": "FAIL",
                "value": None,
                "error": str(exc)[:500],
            }
        seconds = time.perf_counter() - start
        result["seconds"] = seconds
        _log_trial(
            mlflow, study_info, trial, params, model, result, env, trial_seed, worker, seconds
        )
        log.info("worker %s trial %s", worker, json.dumps(result))
        _log_progress(mlflow, study_info, sweep_progress(study, n_trials), worker)
        done.append(result)
    return {
        "worker": worker,
        "pruner": pruner,
        "stopped_earlier_job": stopped,
        "recovered_killed_trials": recovered,
        "trials": done,
    }


def summarise_study(
    study_info: dict, storage, model_cfg: dict, tracking_uri: str
) -> tuple[dict, object]:
    """Best parameters (suggested + fixed) and the trials table of a finished sweep."""
    study = optuna.load_study(study_name=study_info["study_name"], storage=storage)
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if not complete:
        raise RuntimeError(
            f"study {study_info['study_name']}: no complete trial (see the worker logs)"
        )
    best = max(complete, key=lambda t: (t.value, -t.number))
    space = parse_space(model_cfg["space"], study_info["model"])
    params = _params_from_trial(best.params, space)
    killed = killed_trials(study)
    states = {
        s.name: sum(1 for t in trials if t.state == s and counted(t, killed)) for s in TrialState
    }
    summary = {
        "model": study_info["model"],
        "study_name": study_info["study_name"],
        "best_trial": best.number,
        "best_val_accuracy": best.value,
        "params": {**params, **model_cfg.get("fixed", {})},
        "refit_params": json.loads(best.user_attrs["refit_params"]),
        "seed": best.user_attrs.get("seed"),
        "n_trials_budget": int(model_cfg["n_trials"]),
        "n_trials_counted": sum(1 for t in trials if counted(t, killed)),
        "states": {k: v for k, v in states.items() if v},
        "killed_and_retried": len(killed),
    }
    mlflow = _mlflow(tracking_uri)
    client = mlflow.tracking.MlflowClient()
    parent = study_info["mlflow_parent_run_id"]
    client.log_metric(parent, "best_val_accuracy", best.value)
    client.log_param(parent, "best_trial", best.number)
    client.set_terminated(parent, "FINISHED")
    df = study.trials_dataframe(
        attrs=("number", "value", "state", "params", "user_attrs", "duration")
    )
    return summary, df


def _params_from_trial(raw: dict, space: dict) -> dict:
    """Rebuild structured parameters (layer lists) from Optuna's flat parameter names."""
    params = {}
    for name, spec in space.items():
        if spec[0] == "layers":
            n = raw[f"{name}_layers"]
            params[name] = [raw[f"{name}_{i}"] for i in range(n)]
        elif name in raw:
            params[name] = raw[name]
    return params
