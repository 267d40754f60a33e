"""The worker loop: claim a slot, wait for the batches it depends on, draw, train, report,
log; until the budget is used."""

from __future__ import annotations

import json
import logging
import time

import optuna
from optuna.trial import TrialState

from uhecr import models, provenance
from uhecr.search.liveness import claim_worker
from uhecr.search.pruners import make_pruner, model_pruner
from uhecr.search.schedule import (
    batch_start,
    claim_slot,
    finished_slots,
    history_study,
    recover_own_trials,
    slot_seed,
    sweep_progress,
    wait_for_slots,
)
from uhecr.search.study import make_sampler
from uhecr.search.tracking import import_mlflow, log_progress, log_trial
from uhecr.spaces import parse_space, suggest

log = logging.getLogger(__name__)


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
    sweep = Sweep(
        study=study,
        model_name=model_name,
        model_cfg=model_cfg,
        data=data,
        info=study_info,
        worker=worker,
        search_cfg=search_cfg,
        pruner=pruner,
        seed=seed,
        mlflow=import_mlflow(tracking_uri),
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


class Sweep:
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
        log_trial(
            self.mlflow, self.info, trial, params, model, result, self.env, trial_seed,
            self.worker, seconds,
        )  # fmt: skip
        log.info("worker %s trial %s", self.worker, json.dumps(result))
        log_progress(self.mlflow, self.info, sweep_progress(study, self.n_trials), self.worker)
        self.done.append(result)
