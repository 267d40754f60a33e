"""Hyper-parameter sweeps: Optuna studies shared by several worker jobs, tracked in MLflow.

Modules: ``study`` (key, storage, sampler, creation, summary), ``pruners``, ``schedule`` (budget,
slots and batches), ``liveness`` (worker jobs alive or gone), ``servers`` (fail fast when a
server is unreachable), ``tracking`` (MLflow), ``worker`` (the worker loop).

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

from uhecr.search.liveness import (
    claim_worker,
    job_of_this_process,
    process_start,
    still_running,
    stop_job,
)
from uhecr.search.pruners import (
    PRUNER_SETTINGS,
    SlotHyperbandPruner,
    make_pruner,
    max_steps,
    model_pruner,
    pruner_config,
    resolve_pruner,
)
from uhecr.search.schedule import (
    NOT_COUNTED,
    batch_start,
    claim_slot,
    counted,
    enqueue_slots,
    finished_slots,
    history_study,
    killed_trials,
    recover_own_trials,
    reopen_slot,
    slot_seed,
    slots_used,
    sweep_progress,
    wait_for_slots,
)
from uhecr.search.servers import (
    check_reachable,
)
from uhecr.search.study import (
    create_study,
    make_sampler,
    params_from_trial,
    storage_for,
    summarise_study,
    sweep_key,
)
from uhecr.search.tracking import (
    init_tracking,
    tracking_uri_for,
)
from uhecr.search.worker import (
    run_worker,
)

__all__ = [
    "NOT_COUNTED",
    "PRUNER_SETTINGS",
    "SlotHyperbandPruner",
    "batch_start",
    "check_reachable",
    "claim_slot",
    "claim_worker",
    "counted",
    "create_study",
    "enqueue_slots",
    "finished_slots",
    "history_study",
    "init_tracking",
    "job_of_this_process",
    "killed_trials",
    "make_pruner",
    "make_sampler",
    "max_steps",
    "model_pruner",
    "params_from_trial",
    "process_start",
    "pruner_config",
    "recover_own_trials",
    "reopen_slot",
    "resolve_pruner",
    "run_worker",
    "slot_seed",
    "slots_used",
    "still_running",
    "stop_job",
    "storage_for",
    "summarise_study",
    "sweep_key",
    "sweep_progress",
    "tracking_uri_for",
    "wait_for_slots",
]
