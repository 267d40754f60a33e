"""Hyper-parameter sweeps: Optuna studies shared by several worker jobs, tracked in MLflow.

Search spaces use the reference study's notation, as strings in config:
``loguniform(a, b)``, ``uniform(a, b)``, ``choice([...])``, ``range(a, b)`` (Python range: ``b`` is
excluded). Two structured forms exist:

* conditional: ``{distribution: "range(2, 5)", when: {kernel: poly}}``;
* layer sizes: ``{layers: "range(2, 5)", units: "range(2, 20)"}`` -> a list of ``layers`` sizes.

Schedule (the same results with any number of workers, on any scheduler, through any
interruption): a sweep's budget is ``n_trials`` slots, enqueued in order when the study is
created. Slots form batches of ``search.trials_per_batch``; the trial of slot ``s`` sees only the
finished trials of the batches before its own: the sampler draws its parameters, and the pruner
decides, from those trials alone (an in-memory copy of them, ``history_study``), with a sampler
seeded from the sweep's seed and the slot. A worker takes the lowest open slot and, before
drawing, waits for the earlier batches to finish (logging what it waits for). So a trial's
parameters, seeds and pruning decisions depend only on the seed, its slot and the results of a
fixed set of earlier slots, never on timing or on which worker ran what. A worker that restarts
(or finds a trial whose job is gone) marks that trial ``killed`` (not counted) and re-opens its
slot: the retry draws and trains exactly as the lost trial would have.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import logging
import os
import socket
import time
import urllib.parse
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


def tracking_uri_for(configured: str | None, default_db: str | Path) -> str:
    """The configured MLflow URI, or a SQLite store (MLflow 3's file store is deprecated)."""
    if configured:
        return configured
    path = Path(default_db).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


# A server that does not answer within this many seconds is reported as unreachable: MLflow's
# client would otherwise retry for about four minutes before failing.
REACH_TIMEOUT_S = 5.0
DEFAULT_PORTS = {"http": 80, "https": 443, "postgresql": 5432, "mysql": 3306}


def check_reachable(url: str, key: str, timeout_s: float = REACH_TIMEOUT_S) -> None:
    """Fails at once, naming the config key ``key`` (credentials masked), when the server of an
    http(s) or database URL takes no TCP connection; local stores (files, SQLite, a database
    on a Unix socket) are not checked."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.split("+")[0]
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return
    address = (parts.hostname, parts.port or DEFAULT_PORTS[scheme])
    try:
        socket.create_connection(address, timeout=timeout_s).close()
    except OSError as err:
        raise ValueError(
            f"config key {key}: cannot reach {provenance.redact(url)} "
            f"(TCP {address[0]}:{address[1]}: {err}); start the server or correct the key"
        ) from None


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


class SlotHyperbandPruner(optuna.pruners.HyperbandPruner):
    """Optuna's Hyperband with each trial's bracket drawn from its budget slot (user attribute
    ``seed``: the sweep's seed + the slot), not its number: the retry of a killed trial (a new
    number, the same slot and seeds) lands in the bracket the trial had. It prunes over the
    history study of ``history_study``, which holds no killed trial."""

    def _get_bracket_id(self, study, trial) -> int:
        if len(self._pruners) == 0:
            return 0
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
    """Numbers of trials lost with their job (their slot was re-opened)."""
    marked = {int(k.split("_", 1)[1]) for k in study.user_attrs if k.startswith("killed_")}
    own = {
        t.number for t in study.get_trials(deepcopy=False) if t.user_attrs.get("status") == "killed"
    }
    return marked | own


def counted(t, killed: set[int] = frozenset()) -> bool:
    """Does trial ``t`` use one slot of the budget?"""
    if t.number in killed or t.user_attrs.get("status") in NOT_COUNTED:
        return False
    if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING):
        return True
    return t.state == TrialState.FAIL


def slots_used(study, before: int | None = None) -> int:
    killed = killed_trials(study)
    return sum(
        1
        for t in study.get_trials(deepcopy=False)
        if (before is None or t.number < before) and counted(t, killed)
    )


# --------------------------------------------------------------------------- schedule
def batch_start(slot: int, batch_size: int) -> int:
    """The first slot of ``slot``'s batch: the trial of ``slot`` sees the slots before it."""
    return (slot // max(1, int(batch_size))) * max(1, int(batch_size))


def slot_seed(seed: int, slot: int) -> int:
    """The sampler's seed for one slot (a retry of a lost trial draws the same)."""
    return int(np.random.SeedSequence([seed, slot]).generate_state(1)[0])


def enqueue_slots(study, n_trials: int) -> int:
    """Open the sweep's budget: a waiting trial for each slot below ``n_trials`` that has no
    trial but killed ones, in slot order (rule create_study; a waiting worker for a slot left
    without one). Returns the number enqueued."""
    have = {
        t.user_attrs.get("slot")
        for t in study.get_trials(deepcopy=False)
        if t.user_attrs.get("status") != "killed"
    }
    new = [slot for slot in range(int(n_trials)) if slot not in have]
    for slot in new:
        study.enqueue_trial({}, user_attrs={"slot": slot}, skip_if_exists=False)
    return len(new)


def finished_slots(study) -> dict[int, object]:
    """Slot -> its counted, finished trial (complete, pruned, or failed with an error)."""
    killed = killed_trials(study)
    done = {}
    for t in study.get_trials(deepcopy=False):
        slot = t.user_attrs.get("slot")
        if slot is not None and t.state.is_finished() and counted(t, killed):
            done.setdefault(int(slot), t)
    return done


def claim_slot(study, below: int | None = None):
    """Take the lowest open slot (a waiting trial; below ``below`` if given) for this worker:
    its trial as it was (FrozenTrial), or None when there is none. The state change to RUNNING is atomic in every Optuna storage, so two
    workers never take the same slot; the lowest slot first, so that no worker waits on a
    slot that nobody has taken."""
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    for t in sorted(waiting, key=lambda t: (t.user_attrs.get("slot", 1 << 30), t.number)):
        slot = t.user_attrs.get("slot")
        if slot is None or (below is not None and slot >= below):
            continue
        try:
            if study._storage.set_trial_state_values(t._trial_id, state=TrialState.RUNNING):
                return t
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return None


def reopen_slot(study, t, by: str) -> bool:
    """Mark a running trial whose job is gone ``killed`` and enqueue its slot again. The
    state change is the lock: of several processes doing this at once, one re-opens the slot.
    Returns whether this call did."""
    try:
        study._storage.set_trial_user_attr(t._trial_id, "status", "killed")
        study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:  # another process was first
        return False
    study.set_user_attr(f"killed_{t.number}", by)
    slot = t.user_attrs.get("slot")
    user_attrs = {"slot": slot, "retry_of": t.number}
    study.enqueue_trial({}, user_attrs=user_attrs, skip_if_exists=False)
    log.warning("trial %d (slot %s) lost with its job: slot re-opened by %s", t.number, slot, by)
    return True


def _owner_alive(study, t) -> bool:
    """Is the job that runs trial ``t`` still there? A trial taken a moment ago has no worker
    yet: alive unless it has been so for five minutes. A worker records its job before it takes
    a slot (``claim_worker``): one without a record is not a job of this workflow."""
    worker = t.user_attrs.get("worker")
    if worker is None:
        started = t.datetime_start
        return started is None or (time.time() - started.timestamp()) < 300
    job = study.user_attrs.get(f"worker_{worker}_job")
    return job is not None and _still_running(job)


def wait_for_slots(
    study, needed: int, worker: str, run_open, poll_s: float = 0.5, check_jobs_s: float = 10.0
) -> dict:
    """Wait until slots 0..needed-1 have finished; returns their trials by slot. A slot whose
    trial runs in a job that is gone (a killed worker not restarted, a smaller n_workers after
    an interruption) is re-opened; a re-opened slot below ``needed`` that nobody takes is run
    here (``run_open(trial)``), so that the sweep cannot stall on it."""
    reported, checked = None, time.monotonic() - check_jobs_s  # first check at once
    while True:
        done = finished_slots(study)
        missing = [s for s in range(needed) if s not in done]
        if not missing:
            return done
        running = {
            int(t.user_attrs["slot"]): t
            for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if t.user_attrs.get("slot") is not None and counted(t)
        }
        if time.monotonic() - checked > check_jobs_s:  # squeue / /proc, not at every poll
            checked = time.monotonic()
            for slot in missing:
                if slot in running and not _owner_alive(study, running[slot]):
                    reopen_slot(study, running[slot], by=f"worker {worker}")
            # A slot whose trial was marked killed by a process that died before enqueueing
            # the retry has no trial left: open it again.
            enqueue_slots(study, needed)
        if any(s not in running for s in missing):
            trial = claim_slot(study, below=needed)
            if trial is not None:
                run_open(trial)
                continue
        if missing != reported:
            log.info(
                "worker %s waits for slot(s) %s, the batches before its own (run by workers %s)",
                worker,
                missing,
                {s: running[s].user_attrs.get("worker") for s in missing if s in running},
            )
            reported = missing
        time.sleep(poll_s)


def history_study(trials: list, sampler, pruner):
    """An in-memory study holding ``trials`` (finished, in slot order): what the sampler draws
    from and the pruner compares with for a trial of a later batch."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # not "a new study" at every trial
    try:
        history = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    finally:
        optuna.logging.set_verbosity(verbosity)
    for t in trials:
        history.add_trial(
            optuna.trial.create_trial(
                state=t.state,
                value=t.value if t.state != TrialState.FAIL else None,
                params=t.params,
                distributions=t.distributions,
                user_attrs={k: t.user_attrs[k] for k in ("seed", "slot") if k in t.user_attrs},
                system_attrs={
                    k: v for k, v in t.system_attrs.items() if k.startswith("completed_rung_")
                },
                intermediate_values=t.intermediate_values,
            )
        )
    return history


def _process_start(pid: int) -> str | None:
    """Start time of a live process (clock ticks since boot): with the pid, it names the
    process (a pid alone may be reused). None when there is no such process, or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def _job_of_this_process() -> dict:
    """This process: host, pid and start time, and the SLURM job it runs in, if any. Local
    jobs inside one allocation (``snakemake --cores N`` in ``salloc``) share the job id: the
    pid tells them apart."""
    import socket

    pid = os.getpid()
    job = {"host": socket.gethostname(), "pid": pid, "start": _process_start(pid)}
    if os.environ.get("SLURM_JOB_ID"):
        job["slurm_job"] = os.environ["SLURM_JOB_ID"]
    return job


def _other_slurm_job(job: dict) -> bool:
    """Is ``job`` a SLURM job other than the one this process runs in?"""
    return "slurm_job" in job and job["slurm_job"] != os.environ.get("SLURM_JOB_ID")


def _still_running(job: dict) -> bool:
    import subprocess

    if _other_slurm_job(job):
        out = subprocess.run(
            ["squeue", "-h", "-j", job["slurm_job"], "-o", "%T"], capture_output=True, text=True
        )
        if out.returncode == 0:
            return bool(out.stdout.strip())
        if "invalid job id" in out.stderr.lower():  # long finished: no longer known
            return False
        log.warning("squeue failed (%s): job %s taken as running", out.stderr.strip(), job)
        return True
    import socket

    if job.get("host") != socket.gethostname():
        # Another node of this allocation: no pid to look at from here. Taken as running;
        # a worker restarted there re-opens its own trials.
        return "slurm_job" in job
    start = _process_start(int(job["pid"]))
    return start is not None and start == job.get("start")


def _stop(job: dict) -> None:
    import signal
    import subprocess

    if _other_slurm_job(job):
        subprocess.run(["scancel", job["slurm_job"]], check=False)
    else:  # never scancel the allocation this process runs in
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
    """Re-open the slots of this worker's unfinished trials (from a killed run).

    Only this worker's own trials are touched: a worker id is run by one job at a time, so its
    RUNNING trials at start-up can only be left over from a killed earlier attempt.
    """
    return sum(
        reopen_slot(study, t, by=f"worker {worker} (restarted)")
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if t.user_attrs.get("worker") == worker
    )


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
    check_reachable(tracking_uri, "search.tracking_uri")
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
    """Create (or load) the Optuna study, with its budget's slots, and the MLflow parent run
    of one sweep."""
    study = optuna.create_study(
        study_name=study_name, storage=storage, direction="maximize", load_if_exists=True
    )
    enqueue_slots(study, config["n_trials"])
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
    free_running: bool = False,
) -> dict:
    """Evaluate open slots of one study until none is left; returns what this worker did.

    ``data``: {"train": (X, y, shower ids), "validation": (...)}; ``features``: X's columns.
    ``free_running``: draw from whatever trials have finished, without waiting for the earlier
    batches (results then depend on timing): only ``bench/bench_search.py`` uses it, as the
    reference for the batch schedule's cost."""
    pruner = model_pruner(model_name, model_cfg, search_cfg)
    study = optuna.load_study(study_name=study_info["study_name"], storage=storage)
    stopped = claim_worker(study, worker)
    recovered = recover_own_trials(study, worker)
    sweep = _Sweep(
        study=study,
        model_name=model_name,
        model_cfg=model_cfg,
        data=data,
        info=study_info,
        worker=worker,
        search_cfg=search_cfg,
        pruner=pruner,
        seed=seed,
        mlflow=_mlflow(tracking_uri),
        threads=threads,
        features=features,
        free_running=free_running,
    )
    while (claimed := claim_slot(study)) is not None:
        sweep.run_slot(claimed)
    # Every slot taken: wait until every one has finished, so that a slot whose job is gone
    # (a worker id a smaller n_workers no longer starts) is re-opened and run here.
    wait_for_slots(study, sweep.n_trials, worker, sweep.run_slot)
    return {
        "worker": worker,
        "pruner": pruner,
        "stopped_earlier_job": stopped,
        "recovered_killed_trials": recovered,
        "trials": sweep.done,
    }


class _Sweep:
    """One worker's view of a sweep: runs the slots it takes (``run_slot``)."""

    def __init__(self, *, study, model_name, model_cfg, data, info, worker, search_cfg,
                 pruner, seed, mlflow, threads, features, free_running=False):  # fmt: skip
        self.study, self.model_name, self.info, self.worker = study, model_name, info, worker
        self.space = parse_space(model_cfg["space"], model_name)
        self.fixed = dict(model_cfg.get("fixed", {}))
        self.n_trials = int(model_cfg["n_trials"])
        self.sampler_cfg = search_cfg.get("sampler", {})
        self.batch_size = int(search_cfg.get("trials_per_batch") or 1)
        self.pruner, self.seed, self.mlflow = pruner, seed, mlflow
        self.threads, self.features, self.data = threads, features, data
        self.free_running = free_running
        self.env = provenance.environment_info()
        self.done: list[dict] = []

    def run_slot(self, claimed) -> None:
        """Run the trial of one slot taken by this worker (``claimed``, as taken)."""
        study, slot = self.study, int(claimed.user_attrs["slot"])
        study._storage.set_trial_user_attr(claimed._trial_id, "worker", self.worker)
        waited = time.perf_counter()
        if self.free_running:  # the bench's reference: whatever has finished by now
            finished = finished_slots(study)
            earlier = [finished[s] for s in sorted(finished)]
        else:
            before = batch_start(slot, self.batch_size)
            finished = wait_for_slots(study, before, self.worker, self.run_slot)
            earlier = [finished[s] for s in range(before)]
        study._storage.set_trial_user_attr(
            claimed._trial_id, "wait_s", round(time.perf_counter() - waited, 3)
        )
        history = history_study(
            earlier,
            make_sampler(self.sampler_cfg, slot_seed(self.seed, slot)),
            make_pruner(self.pruner),
        )
        trial_seed = self.seed + slot
        shadow = history.ask()
        shadow.set_user_attr("seed", trial_seed)  # Hyperband's bracket
        shadow.set_user_attr("slot", slot)
        drawn = suggest(shadow, self.space)
        # The study's trial records the drawn values (Optuna's fixed parameters, as an enqueued
        # trial has them): every sampler decision was made on the history above.
        study._storage.set_trial_system_attr(claimed._trial_id, "fixed_params", shadow.params)
        trial = optuna.trial.Trial(study, claimed._trial_id)
        params = {**suggest(trial, self.space), **self.fixed}
        assert {**drawn, **self.fixed} == params, (drawn, params)
        trial.set_user_attr("seed", trial_seed)
        model = models.build(self.model_name, params, trial_seed, self.threads, self.features)

        def report(step, acc):
            trial.report(acc, step)
            shadow.report(acc, step)
            if shadow.should_prune():
                raise optuna.TrialPruned(f"pruned at step {step} (val accuracy {acc:.4f})")

        (X, y, groups), (Xv, yv, groups_val) = self.data["train"], self.data["validation"]
        start = time.perf_counter()
        try:
            model.fit(X, y, Xv, yv, report=report, groups=groups, groups_val=groups_val)
            value = model.score(Xv, yv, groups_val)
            trial.set_user_attr("refit_params", json.dumps(model.refit_params(), default=str))
            state, result = TrialState.COMPLETE, {"state": "COMPLETE", "value": value}
        except optuna.TrialPruned:
            best = max((h["val_accuracy"] for h in model.history), default=None)
            state, value, result = TrialState.PRUNED, None, {"state": "PRUNED", "value": best}
        except Exception as exc:  # a bad configuration (NaN loss, ...) fails the trial only
            log.exception("trial %d (slot %d) failed", trial.number, slot)
            trial.set_user_attr("status", "error")
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:500])
            state, value = TrialState.FAIL, None
            result = {"state": "FAIL", "value": None, "error": str(exc)[:500]}
        # The rungs the pruner recorded travel with the trial to later batches' histories.
        for key, rung in history._storage.get_trial(shadow._trial_id).system_attrs.items():
            if key.startswith("completed_rung_"):
                study._storage.set_trial_system_attr(trial._trial_id, key, rung)
        study.tell(trial, value, state=state)
        seconds = time.perf_counter() - start
        result = {"number": trial.number, "slot": slot, **result, "seconds": seconds}
        _log_trial(
            self.mlflow, self.info, trial, params, model, result, self.env, trial_seed,
            self.worker, seconds,
        )  # fmt: skip
        log.info("worker %s trial %s", self.worker, json.dumps(result))
        _log_progress(self.mlflow, self.info, sweep_progress(study, self.n_trials), self.worker)
        self.done.append(result)


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
    params = _params_from_trial(best.params, space)
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
    mlflow = _mlflow(tracking_uri)
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
