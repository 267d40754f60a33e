"""The budget and the batch-synchronous schedule: slots, what counts against the budget,
claiming and re-opening slots, waiting for earlier batches, the history a trial sees."""

from __future__ import annotations

import logging
import time

import numpy as np
import optuna
from optuna.trial import TrialState

from uhecr.search.liveness import still_running

log = logging.getLogger(__name__)

NOT_COUNTED = ("killed", "over_budget")


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


def owner_alive(study, t) -> bool:
    """Is the job that runs trial ``t`` still there? A trial taken a moment ago has no worker
    yet: alive unless it has been so for five minutes. A worker records its job before it takes
    a slot (``claim_worker``): one without a record is not a job of this workflow."""
    worker = t.user_attrs.get("worker")
    if worker is None:
        started = t.datetime_start
        return started is None or (time.time() - started.timestamp()) < 300
    job = study.user_attrs.get(f"worker_{worker}_job")
    return job is not None and still_running(job)


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
                if slot in running and not owner_alive(study, running[slot]):
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
