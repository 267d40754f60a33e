import json
import multiprocessing as mp
import time

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from uhecr import search
from uhecr.spaces import parse_distribution, parse_space, suggest, validate_spaces

SVM_CFG = {
    "n_trials": 6,
    "fixed": {"n_components": 20, "max_iter": 200},
    "space": {
        "C": "loguniform(0.001, 1000)",
        "kernel": "choice(['rbf', 'poly', 'linear'])",
        "gamma": "choice(['scale', 'auto'])",
        "degree": {"distribution": "range(2, 5)", "when": {"kernel": "poly"}},
    },
}
SEARCH_CFG = {"sampler": {"name": "tpe", "n_startup_trials": 2}, "pruner": {"name": "median"}}


def _blobs(n=400, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    X = rng.normal(size=(n, 3)) + y[:, None]
    showers = np.arange(n)  # one station per shower
    return {
        "train": (X[: n // 2], y[: n // 2], showers[: n // 2]),
        "validation": (X[n // 2 :], y[n // 2 :], showers[n // 2 :]),
    }


def test_notation_parsing():
    assert parse_distribution("loguniform(0.001, 1000)", "k").kind == "loguniform"
    assert parse_distribution("choice([false, true])", "k").args == ([False, True],)
    assert parse_distribution("range(2, 15)", "k").args == (2, 15)
    for bad, msg in [
        ("lognormal(1, 2)", "unknown distribution 'lognormal'"),
        ("uniform(1)", "takes 2 argument"),
        ("uniform(5, 1)", "is empty"),
        ("loguniform(0, 1)", "positive lower bound"),
        ("choice([])", "non-empty list"),
        ("range(2,", "cannot parse"),
    ]:
        with pytest.raises(ValueError, match=rf"config key models.x.space.p: .*{msg}"):
            parse_distribution(bad, "models.x.space.p")


def test_range_excludes_upper_bound_and_conditionals_and_layers():
    space = parse_space(
        {
            "k": "choice(['poly', 'rbf'])",
            "degree": {"distribution": "range(2, 3)", "when": {"k": "poly"}},
            "enc": {"layers": "range(2, 5)", "units": "range(2, 20)"},
        },
        "m",
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = []
    for _ in range(40):
        p = suggest(study.ask(), space)
        assert ("degree" in p) == (p["k"] == "poly")
        assert p.get("degree", 2) == 2
        assert 2 <= len(p["enc"]) <= 4 and all(2 <= u <= 19 for u in p["enc"])
        seen.append(len(p["enc"]))
    assert set(seen) == {2, 3, 4}


def test_key_order_of_a_space_does_not_change_the_values_drawn():
    """The same space written in another key order (a config rewritten by yaml.safe_dump,
    which sorts keys, or merged from overlays) gives every trial the same values: the default
    config's XGBoost and DAE spaces, forwards and reversed. The order matters where parameters
    are drawn one by one (the random start-up trials, conditional and layer parameters; TPE's
    multivariate draws go in Optuna's own name order): the first three trials here."""
    from uhecr import configuration

    models = configuration.load(configuration.ROOT / "config" / "config.yaml")["models"]
    for model in ("xgboost", "dae"):
        written = models[model]["space"]
        drawn = []
        for order in (list(written), list(reversed(written))):
            space = parse_space({k: written[k] for k in order}, model)
            sampler = optuna.samplers.TPESampler(seed=7, n_startup_trials=3)
            study = optuna.create_study(direction="maximize", sampler=sampler)
            params = []
            for k in range(5):
                trial = study.ask()
                params.append(suggest(trial, space))
                study.tell(trial, float(k % 3))
            drawn.append(params)
        assert drawn[0] == drawn[1], model
        assert len({repr(p) for p in drawn[0]}) == 5  # five different trials


def test_shipped_spaces_parse():
    from uhecr import configuration

    for name in ("config.yaml", "quick.yaml", "thesis.yaml"):
        validate_spaces(configuration.load(configuration.ROOT / "config" / name)["models"])


def _worker(args):
    journal, info, worker, tracking, n_trials = args
    storage = search.storage_for("journal", journal)
    cfg = {**SVM_CFG, "n_trials": n_trials}
    return search.run_worker("svm", cfg, _blobs(), storage, info, worker, SEARCH_CFG, 3, tracking)


def _setup(tmp_path, n_trials):
    journal = tmp_path / "optuna.journal"
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    storage = search.storage_for("journal", journal)
    search.init_tracking(tracking, "t-sweeps", tmp_path / "artifacts")
    info = search.create_study(
        "svm", "t-svm", storage, tracking, "t-sweeps", {**SVM_CFG, "n_trials": n_trials}, 3
    )
    return journal, tracking, storage, info


@pytest.mark.slow
def test_parallel_workers_use_exact_budget(tmp_path):
    journal, tracking, storage, info = _setup(tmp_path, 7)
    ctx = mp.get_context("spawn")
    with ctx.Pool(3) as pool:
        results = pool.map(_worker, [(journal, info, w, tracking, 7) for w in ("00", "01", "02")])
    evaluated = [t for r in results for t in r["trials"]]
    assert len(evaluated) == 7
    assert sum(1 for r in results if r["trials"]) >= 2  # work was really shared
    study = optuna.load_study(study_name="t-svm", storage=storage)
    assert search.slots_used(study) == 7
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 7
    # Rerunning a worker on a finished study evaluates nothing.
    assert _worker((journal, info, "00", tracking, 7))["trials"] == []
    summary, df = search.summarise_study(info, storage, {**SVM_CFG, "n_trials": 7}, tracking)
    assert summary["n_trials_counted"] == 7 and summary["best_val_accuracy"] > 0.5
    assert set(summary["params"]) >= {"C", "kernel", "gamma", "n_components"}
    # MLflow: one parent sweep run with 7 nested trial runs.
    import mlflow

    mlflow.set_tracking_uri(tracking)
    runs = mlflow.search_runs(experiment_names=["t-sweeps"])
    children = runs[runs["tags.mlflow.parentRunId"] == info["mlflow_parent_run_id"]]
    assert len(children) == 7
    assert set(children["tags.git_commit"]) and children["metrics.best_val_accuracy"].notna().all()
    assert json.dumps(summary)  # serialisable
    # Progress on the parent run: trials done / budget and the best value so far, per trial.
    client = mlflow.tracking.MlflowClient()
    done = client.get_metric_history(info["mlflow_parent_run_id"], "trials_done")
    assert len(done) == 7 and max(m.value for m in done) == 7  # one entry per finished trial
    best = client.get_metric_history(info["mlflow_parent_run_id"], "best_val_accuracy_so_far")
    assert max(m.value for m in best) == pytest.approx(summary["best_val_accuracy"])
    assert search.sweep_progress(study, 7) == {
        "done": 7,
        "budget": 7,
        "best_value": pytest.approx(summary["best_val_accuracy"]),
        "best_trial": summary["best_trial"],
    }


@pytest.mark.slow
def test_a_slot_whose_job_is_gone_is_reopened_by_a_waiting_worker(tmp_path):
    """Worker 00 took slot 0 and its job died (the trial stays RUNNING; its recorded job is
    not running). Worker 01, waiting for slot 0 (one trial per batch), re-opens and runs it,
    then the rest; worker 00, restarted, finds nothing left. The retry draws what an
    uninterrupted sweep draws."""
    journal, tracking, storage, info = _setup(tmp_path, 4)
    reference = tmp_path / "reference"
    reference.mkdir()
    ref_journal, ref_tracking, ref_storage, ref_info = _setup(reference, 4)
    _worker((ref_journal, ref_info, "00", ref_tracking, 4))
    expected, _ = search.summarise_study(ref_info, ref_storage, {**SVM_CFG, "n_trials": 4},
                                         ref_tracking)  # fmt: skip
    study = optuna.load_study(study_name="t-svm", storage=storage)
    orphan = search.claim_slot(study)
    assert orphan.user_attrs["slot"] == 0
    study._storage.set_trial_user_attr(orphan._trial_id, "worker", "00")
    gone = {**search.job_of_this_process(), "pid": 2**22 + 1, "start": "0"}  # no such process
    study.set_user_attr("worker_00_job", gone)
    other = _worker((journal, info, "01", tracking, 4))
    assert sorted(t["slot"] for t in other["trials"]) == [0, 1, 2, 3]
    again = _worker((journal, info, "00", tracking, 4))
    assert again["recovered_killed_trials"] == 0 and again["trials"] == []
    study = optuna.load_study(study_name="t-svm", storage=storage)
    assert search.killed_trials(study) == {orphan.number}
    assert study.trials[orphan.number].user_attrs["status"] == "killed"
    summary, trials = search.summarise_study(info, storage, {**SVM_CFG, "n_trials": 4}, tracking)
    assert {k: v for k, v in summary.items() if k != "study_name"} == {
        k: v for k, v in expected.items() if k != "study_name"
    }
    assert list(trials["number"]) == [0, 1, 2, 3]


@pytest.mark.slow
def test_a_slot_of_a_worker_no_longer_started_is_finished_by_the_others(tmp_path):
    """Rerun with fewer workers: worker 03's job is gone while it held the last slot, and no
    worker 03 is started again. Worker 00 re-opens and runs it before it returns, so the sweep
    ends complete; a process that marked a trial killed and died before enqueueing the retry
    leaves a slot with no trial, which a waiting worker opens again."""
    journal, tracking, storage, info = _setup(tmp_path, 4)
    study = optuna.load_study(study_name="t-svm", storage=storage)
    waiting = sorted(study.get_trials(states=(TrialState.WAITING,)), key=lambda t: t.number)
    last = waiting[-1]
    assert study._storage.set_trial_state_values(last._trial_id, state=TrialState.RUNNING)
    study._storage.set_trial_user_attr(last._trial_id, "worker", "03")
    gone = {**search.job_of_this_process(), "pid": 2**22 + 1, "start": "0"}  # no such process
    study.set_user_attr("worker_03_job", gone)
    # Slot 2: killed by a process that died before it enqueued the retry.
    lost = waiting[2]
    study._storage.set_trial_user_attr(lost._trial_id, "status", "killed")
    study._storage.set_trial_state_values(lost._trial_id, state=TrialState.FAIL)
    done = _worker((journal, info, "00", tracking, 4))
    assert sorted(t["slot"] for t in done["trials"]) == [0, 1, 2, 3]
    summary, trials = search.summarise_study(info, storage, {**SVM_CFG, "n_trials": 4}, tracking)
    assert summary["n_trials_counted"] == 4 and list(trials["state"]) == ["COMPLETE"] * 4


def test_reopening_a_slot_twice_at_once_reopens_it_once(tmp_path):
    """Two processes find the same dead trial: one re-opens its slot, the other is told no
    (it must not fail its worker job)."""
    _, _, storage, _ = _setup(tmp_path, 2)
    study = optuna.load_study(study_name="t-svm", storage=storage)
    claimed = search.claim_slot(study)
    stale = study._storage.get_trial(claimed._trial_id)  # both hold this RUNNING snapshot
    assert search.reopen_slot(study, stale, by="a") is True
    assert search.reopen_slot(study, stale, by="b") is False
    retries = [t for t in study.get_trials() if t.user_attrs.get("retry_of") == claimed.number]
    assert len(retries) == 1 and retries[0].state == TrialState.WAITING


def _scheduled_worker(args):
    journal, info, worker, tracking, model, cfg, search_cfg = args
    storage = search.storage_for("journal", journal)
    return search.run_worker(model, cfg, _blobs(), storage, info, worker, search_cfg, 3, tracking)


def _sweep_with_workers(folder, model, cfg, search_cfg, n_workers):
    """A sweep run by ``n_workers`` worker processes at once; its summary and trials table."""
    folder.mkdir()
    journal, tracking = folder / "optuna.journal", f"sqlite:///{folder / 'mlflow.db'}"
    storage = search.storage_for("journal", journal)
    search.init_tracking(tracking, "t-sched", folder / "artifacts")
    info = search.create_study(model, "t-sched", storage, tracking, "t-sched", cfg, 3)
    jobs = [(journal, info, f"{w:02d}", tracking, model, cfg, search_cfg) for w in range(n_workers)]
    if n_workers == 1:  # in this process: no pool to start
        done = [_scheduled_worker(jobs[0])]
    else:
        with mp.get_context("spawn").Pool(n_workers) as pool:
            done = pool.map(_scheduled_worker, jobs)
    summary, trials = search.summarise_study(info, storage, cfg, tracking)
    summary.pop("study_name")
    return summary, trials.to_csv(index=False), done


SCHEDULED = {
    # TPE after 2 random trials, 2 trials per batch: slots 4-7 are drawn from the history.
    "svm": (
        {**SVM_CFG, "n_trials": 8},
        {"sampler": {"name": "tpe", "n_startup_trials": 2}, "trials_per_batch": 2},
    ),
    # Pruned by Hyperband: its decisions come from the earlier batches too.
    "xgboost": (
        {
            "n_trials": 8,
            "fixed": {"num_boost_round": 90},
            "space": {"learning_rate": "loguniform(0.0001, 1)", "max_depth": "range(1, 4)"},
        },
        {
            "sampler": {"name": "tpe", "n_startup_trials": 2},
            "pruner": {"name": "hyperband", "min_resource": 1, "max_resource": 9},
            "trials_per_batch": 3,
        },
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize(("model", "workers"), [("svm", 3), ("xgboost", 2)])
def test_the_same_trials_with_one_two_or_three_workers(tmp_path, model, workers):
    """The batch schedule: parameters, values, states (pruning included), the best trial and
    the trials table are identical whether one or several workers run the sweep (here 3 for
    the SVM, 2 for the pruned XGBoost; tests/test_reproducibility.py runs 1, 2 and 3 workers
    through Snakemake)."""
    cfg, search_cfg = SCHEDULED[model]
    reference, table, _ = _sweep_with_workers(tmp_path / "one", model, cfg, search_cfg, 1)
    if model == "xgboost":
        assert "PRUNED" in reference["states"] and "COMPLETE" in reference["states"]
    for n_workers in (workers,):
        summary, other, done = _sweep_with_workers(
            tmp_path / f"w{n_workers}", model, cfg, search_cfg, n_workers
        )
        assert sum(1 for d in done if d["trials"]) >= 2  # the work was really shared
        assert summary == reference, n_workers
        assert other == table, n_workers


@pytest.mark.slow
def test_a_trial_sees_only_the_batches_before_its_own(tmp_path, monkeypatch):
    """What the sampler and pruner are given, in a real sweep (one worker, so that every
    earlier trial has finished): for slot s exactly the finished trials of the slots before
    its batch, in slot order, never a trial of its own batch."""
    histories = {}
    build = search.history_study

    def spy(trials, sampler, pruner):
        history = build(trials, sampler, pruner)
        histories[len(histories)] = [t.user_attrs["slot"] for t in history.trials]
        return history

    monkeypatch.setattr(search.worker, "history_study", spy)
    cfg, search_cfg = SCHEDULED["svm"]  # 8 slots, 2 per batch
    _sweep_with_workers(tmp_path / "one", "svm", cfg, search_cfg, 1)
    assert search.batch_start(5, 2) == 4 and search.batch_start(4, 2) == 4
    assert histories == {s: list(range(search.batch_start(s, 2))) for s in range(8)}


def test_storage_url_with_unset_variable_is_rejected(tmp_path, monkeypatch):
    monkeypatch.delenv("UHECR_TEST_PW", raising=False)
    with pytest.raises(ValueError, match="search.storage: unset environment variable"):
        search.storage_for("postgresql://u:${UHECR_TEST_PW}@localhost/db", tmp_path / "j")


def _closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_tracking_server_fails_at_once_naming_the_key(tmp_path):
    """MLflow's client retries a refused server for about four minutes; the run stops within
    seconds instead, naming the config key, before any sweep starts."""
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"search\.tracking_uri: cannot reach http://127"):
        search.init_tracking(f"http://127.0.0.1:{_closed_port()}", "t-sweeps", None)
    assert time.perf_counter() - start < 10


def test_an_unreachable_database_storage_fails_at_once_masking_the_password(tmp_path):
    url = f"postgresql://uhecr:s3cret@127.0.0.1:{_closed_port()}/optuna"
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"search\.storage: cannot reach") as err:
        search.storage_for(url, tmp_path / "unused")
    assert time.perf_counter() - start < 10
    assert "s3cret" not in str(err.value) and "uhecr:***@127.0.0.1" in str(err.value)


def test_local_stores_are_not_checked_for_a_server(tmp_path):
    for url in (f"sqlite:///{tmp_path}/m.db", "postgresql:///optuna", f"file://{tmp_path}"):
        search.check_reachable(url, "search.storage")


def test_rdb_storage_url_works_with_sqlite(tmp_path):
    storage = search.storage_for(f"sqlite:///{tmp_path / 'optuna.db'}", tmp_path / "unused")
    study = optuna.create_study(storage=storage, study_name="rdb")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert len(study.trials) == 2


def test_unknown_sampler_and_pruner():
    with pytest.raises(ValueError, match="search.sampler.name"):
        search.make_sampler({"name": "cmaes-x"}, 1)
    with pytest.raises(ValueError, match="search.pruner.name"):
        search.make_pruner({"name": "sometimes"})


def test_hyperband_prunes_at_its_rungs_with_the_training_resource_as_step(tmp_path):
    """Hyperband over the steps the models report (here blocks of 10 boosting rounds): trials
    are stopped only at a rung (min_resource x reduction_factor^k), none fails, and the pruner
    is built from the config's settings."""
    pruner_cfg = {"name": "hyperband", "min_resource": 1, "max_resource": 9, "reduction_factor": 3}
    pruner = search.make_pruner(pruner_cfg)
    assert isinstance(pruner, optuna.pruners.HyperbandPruner)
    assert (pruner._min_resource, pruner._max_resource, pruner._reduction_factor) == (1, 9, 3)
    cfg = {
        "n_trials": 12,
        "fixed": {"num_boost_round": 90},
        "space": {"learning_rate": "loguniform(0.0001, 1)", "max_depth": "range(1, 4)"},
    }
    storage = search.storage_for("journal", tmp_path / "optuna.journal")
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    search.init_tracking(tracking, "t-hb", tmp_path / "artifacts")
    info = search.create_study("xgboost", "t-hb", storage, tracking, "t-hb", cfg, 3)
    search_cfg = {"sampler": {"name": "random"}, "pruner": pruner_cfg}
    search.run_worker("xgboost", cfg, _blobs(), storage, info, "00", search_cfg, 3, tracking)
    study = optuna.load_study(study_name="t-hb", storage=storage)
    states = [t.state for t in study.trials]
    assert TrialState.FAIL not in states and len(states) == 12
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert pruned, "no trial was pruned"
    for t in study.trials:
        steps = sorted(t.intermediate_values)
        assert steps == list(range(1, len(steps) + 1)), steps
    assert {max(t.intermediate_values) for t in pruned} <= {1, 3}


@pytest.mark.parametrize(
    ("model", "cfg", "steps"),
    [
        ("xgboost", {"space": {"num_boost_round": "choice([90, 10])"}}, 9),
        ("xgboost", {"space": {"num_boost_round": "range(10, 101)"}}, 10),
        ("xgboost", {"space": {"num_boost_round": "uniform(10, 55.5)"}}, 5),
        ("xgboost", {"space": {}, "fixed": {"num_boost_round": 90}}, 9),
        ("xgboost", {"space": {"num_boost_round": None}}, 10),  # the model's default, 100
        ("xgboost", {"space": {"num_boost_round": "choice([5])"}}, 1),  # reports nothing: 1
        ("xgboost_shower", {"space": {"num_boost_round": "choice([250, 2500])"}}, 250),
        ("dae", {"space": {}, "fixed": {"epochs": 20}}, 20),
        ("vae", {"space": {}}, 10),
        ("deepsets", {"space": {"epochs": "range(5, 31)"}}, 30),
        ("svm", {"space": {"C": "loguniform(1, 10)"}}, 1),
        # a conditional resource: trials its condition leaves out train the default 100 rounds
        (
            "xgboost",
            {
                "space": {
                    "max_depth": "choice([3, 6])",
                    "num_boost_round": {"distribution": "choice([50])", "when": {"max_depth": 3}},
                }
            },
            10,
        ),
    ],
)
def test_max_steps_is_the_longest_training_the_space_allows(model, cfg, steps):
    assert search.max_steps(model, cfg) == steps


def test_hyperband_auto_resource_is_resolved_from_the_config():
    """``max_resource: auto`` becomes the longest training of the space (Optuna's "auto" takes
    the trials complete when a worker first prunes: workers and resumed workers disagree when
    trials differ in length); explicit settings are kept, impossible ones named."""
    auto = {"name": "hyperband", "max_resource": "auto"}
    assert search.resolve_pruner(auto, 9) == {
        "name": "hyperband",
        "min_resource": 1,
        "reduction_factor": 3,
        "max_resource": 9,
    }
    assert search.make_pruner(auto, 9)._max_resource == 9
    assert search.resolve_pruner({**auto, "min_resource": 3}, 1)["max_resource"] == 3
    assert search.resolve_pruner({**auto, "max_resource": 27}, 9)["max_resource"] == 27
    # 20.0 is a schema-valid integer; Optuna accepts only int
    assert search.make_pruner({**auto, "max_resource": 20.0}, 9)._max_resource == 20
    with pytest.raises(ValueError, match="search.pruner.max_resource: 2 is below min_resource 3"):
        search.resolve_pruner({"name": "hyperband", "min_resource": 3, "max_resource": 2})
    with pytest.raises(ValueError, match=r"models.xgboost.space.num_boost_round"):
        search.max_steps("xgboost", {"space": {"num_boost_round": "choice([None, 100])"}})
    with pytest.raises(ValueError, match=r"models.xgboost.space.num_boost_round"):
        search.max_steps("xgboost", {"space": {"num_boost_round": "uniform(10, 1e400)"}})
    with pytest.raises(ValueError, match=r"models.xgboost.fixed.num_boost_round"):
        search.max_steps("xgboost", {"space": {}, "fixed": {"num_boost_round": [100, 2500]}})


def test_a_model_s_pruner_keys_replace_the_search_pruner_s(tmp_path):
    """``models.<m>.pruner``: its keys replace search.pruner's for that model only (a step is
    an epoch for a network, 10 rounds for XGBoost), cut to the keys its pruner reads;
    ``search.pruner.name: none`` turns pruning off for every model; a model's own key its
    pruner would ignore, own settings for the never-pruned SVM and contradicting settings are
    errors naming the keys and the model; the worker prunes with, and records, the merge."""
    search_cfg = {"pruner": {"name": "hyperband", "n_warmup_steps": 5, "min_resource": 3}}
    own = {"pruner": {"name": "median", "n_warmup_steps": 10}}
    dae = {"space": {"lr": "loguniform(1e-4, 1e-2)"}, "fixed": {"epochs": 20}}
    assert search.pruner_config("dae", {**dae, **own}, search_cfg) == {
        "name": "median",
        "n_warmup_steps": 10,
    }
    assert search.pruner_config("dae", {**dae, "pruner": None}, search_cfg) == {
        "name": "hyperband",
        "min_resource": 3,
    }
    off = {"pruner": {"name": "none", "min_resource": 3}}
    assert search.pruner_config("dae", {**dae, **own}, off) == {"name": "none"}
    assert search.pruner_config("svm", {}, search_cfg) == {"name": "none"}
    assert search.pruner_config("svm", {"pruner": {"name": "none"}}, search_cfg) == {"name": "none"}
    # checked under the global off switch too, so switching it back cannot fail
    with pytest.raises(ValueError, match=r"models\.dae\.pruner\.min_resource: the median"):
        search.pruner_config("dae", {"pruner": {"name": "median", "min_resource": 5}}, off)
    assert search.model_pruner("dae", {**dae, **own}, search_cfg) == {
        "name": "median",
        "n_startup_trials": 5,
        "n_warmup_steps": 10,
    }
    assert search.model_pruner("dae", dae, search_cfg)["max_resource"] == 20
    with pytest.raises(ValueError, match=r"models\.dae\.pruner\.min_resource: the median pru"):
        search.model_pruner("dae", {**dae, "pruner": {"name": "median", "min_resource": 5}}, {})
    with pytest.raises(
        ValueError, match=r"n_warmup_steps: the hyperband .*models\.dae\.pruner: null"
    ):
        search.model_pruner("dae", {**dae, "pruner": {"n_warmup_steps": 9}}, search_cfg)
    with pytest.raises(ValueError, match=r"models\.svm\.pruner: svm trains in one fit"):
        search.model_pruner("svm", {"pruner": {"name": "median"}}, search_cfg)
    with pytest.raises(
        ValueError,
        match=r"search\.pruner\.max_resource \(models\.dae\): 20 is below min_resource 30 "
        r"\(models\.dae\.pruner\.min_resource\)",
    ):
        search.model_pruner(
            "dae",
            {**dae, "pruner": {"min_resource": 30}},
            {"pruner": {"name": "hyperband", "max_resource": 20}},
        )

    cfg = {
        "n_trials": 2,
        "fixed": {},
        "space": {"learning_rate": "loguniform(0.01, 1)", "num_boost_round": "choice([30])"},
        "pruner": {"name": "none"},
    }
    storage = search.storage_for("journal", tmp_path / "optuna.journal")
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    search.init_tracking(tracking, "t-own", tmp_path / "artifacts")
    info = search.create_study("xgboost", "t-own", storage, tracking, "t-own", cfg, 3)
    search_cfg = {"sampler": {"name": "random"}, "pruner": {"name": "hyperband"}}
    args = ("xgboost", cfg, _blobs(), storage, info, "00", search_cfg, 3, tracking)
    assert search.run_worker(*args)["pruner"] == {"name": "none"}


def test_hyperband_brackets_do_not_depend_on_the_study_name():
    """The study name hashes the feature table, whose source paths name the results folder: the
    same config run in another folder must put each budget slot in the same bracket."""
    brackets = []
    for name in ("run_a-dae-3f2a", "run_b-dae-9c41"):
        study = optuna.create_study(study_name=name, direction="maximize")
        pruner = search.make_pruner({"name": "hyperband", "max_resource": 27})
        pruner._try_initialization(study)
        ids = []
        for slot in range(20):
            trial = study.ask()
            trial.set_user_attr("seed", 1234 + slot)
            frozen = study._storage.get_trial(trial._trial_id)
            ids.append(pruner._get_bracket_id(study, frozen))
            study.tell(trial, 0.0)
        brackets.append(ids)
    assert brackets[0] == brackets[1] and len(set(brackets[0])) > 1


def test_every_worker_of_a_sweep_prunes_with_the_same_brackets(tmp_path):
    """Trials of different lengths, the first a short one (10 rounds: 1 step): each worker,
    including one started after trials finished, builds Hyperband over the longest training of
    the space (9 steps) and says so in its result."""
    cfg = {
        "n_trials": 6,
        "fixed": {},
        "space": {"learning_rate": "loguniform(0.01, 1)", "num_boost_round": "choice([10, 90])"},
    }
    storage = search.storage_for("journal", tmp_path / "optuna.journal")
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    search.init_tracking(tracking, "t-hba", tmp_path / "artifacts")
    search_cfg = {"sampler": {"name": "random"}, "pruner": {"name": "hyperband"}}
    results = []
    for n_trials in (3, 6):  # a second worker joins after the first finished its trials
        cfg["n_trials"] = n_trials
        info = search.create_study("xgboost", "t-hba", storage, tracking, "t-hba", cfg, 3)
        worker = f"{n_trials:02d}"
        args = ("xgboost", cfg, _blobs(), storage, info, worker, search_cfg, 3, tracking)
        results.append(search.run_worker(*args))
    study = optuna.load_study(study_name="t-hba", storage=storage)
    assert study.trials[0].params["num_boost_round"] == 10  # the first trial is the short kind
    assert {t.params["num_boost_round"] for t in study.trials} == {10, 90}
    for result in results:
        assert result["pruner"]["max_resource"] == 9
        assert result["trials"]


SWEEP_INPUTS = {
    "model": "svm",
    "model_cfg": {
        "n_trials": 4,
        "fixed": {"n_components": 50},
        "space": {"C": "loguniform(1, 10)"},
    },
    "features": ["lg_energy", "zeta_rad"],
    "search_cfg": {
        "sampler": {"name": "tpe", "n_startup_trials": 5},
        "pruner": {"name": "median"},
        "max_train_samples": None,
        "n_workers": 2,
        "storage": "journal",
        "tracking_uri": None,
    },
    "seed": 3,
    "data_fingerprint": {"table_sha256": "a" * 64, "ids_sha256": {"test": "b" * 64}},
}


def _changed(path, value):
    inputs = json.loads(json.dumps(SWEEP_INPUTS))
    target = inputs
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return inputs


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("model_cfg", "space", "C"), "loguniform(100, 1000)"),
        (("model_cfg", "fixed", "n_components"), 100),
        (("model_cfg", "n_trials"), 5),
        (("features",), ["lg_energy"]),
        (("search_cfg", "sampler", "name"), "random"),
        (("search_cfg", "max_train_samples"), 1000),
        (("seed",), 4),
        (("data_fingerprint", "table_sha256"), "c" * 64),
        (("data_fingerprint", "ids_sha256", "test"), "d" * 64),
    ],
)
def test_every_sweep_input_changes_the_study(path, value):
    assert search.sweep_key(**_changed(path, value)) != search.sweep_key(**SWEEP_INPUTS)


def test_the_pruner_counts_in_the_study_as_far_as_the_model_s_pruner_reads_it():
    """A pruner setting changes the study of a model it prunes, not of one it does not read it
    for (Hyperband keys under a median pruner) or of the never-pruned SVM."""
    xgb = {**SWEEP_INPUTS, "model": "xgboost"}

    def key(inputs, pruner=None, own=None):
        inputs = json.loads(json.dumps(inputs))
        if pruner is not None:
            inputs["search_cfg"]["pruner"] = pruner
        if own is not None:
            inputs["model_cfg"]["pruner"] = own
        return search.sweep_key(**inputs)

    base = key(xgb)
    assert key(xgb, {"name": "none"}) != base
    assert key(xgb, own={"name": "hyperband"}) != base
    assert key(xgb, {"name": "median", "min_resource": 9}) == base  # median reads no resource
    assert key(xgb, own={"name": "median"}) == base  # the same settings as search.pruner's
    assert key(xgb, own={"n_warmup_steps": 10}) != base
    assert key(SWEEP_INPUTS, {"name": "none"}) == key(SWEEP_INPUTS)  # SVM: never pruned


def test_space_order_is_not_part_of_the_study():
    """Parameters are drawn in name order, whatever the order of the keys: the same study."""
    reordered = json.loads(json.dumps(SWEEP_INPUTS))
    reordered["model_cfg"]["space"] = {"kernel": "choice(['rbf'])", "C": "loguniform(1, 10)"}
    other = json.loads(json.dumps(reordered))
    other["model_cfg"]["space"] = {"C": "loguniform(1, 10)", "kernel": "choice(['rbf'])"}
    assert search.sweep_key(**reordered) == search.sweep_key(**other)
    other["model_cfg"]["space"]["C"] = "loguniform(1, 100)"
    assert search.sweep_key(**reordered) != search.sweep_key(**other)


def test_same_inputs_same_study_and_worker_count_does_not_matter():
    """A killed worker's rerun must find the same study: the key is a pure function."""
    assert search.sweep_key(**SWEEP_INPUTS) == search.sweep_key(
        **json.loads(json.dumps(SWEEP_INPUTS))
    )
    more_workers = _changed(("search_cfg", "n_workers"), 8)
    assert search.sweep_key(**more_workers) == search.sweep_key(**SWEEP_INPUTS)


def test_artifacts_stay_under_the_results_folder_and_a_new_store_gets_a_parent_run(tmp_path):
    """MLflow must not write ./mlruns in the working directory; an RDB study resumed under a new
    MLflow store (here: a new SQLite file) gets a parent run there instead of failing later."""
    journal, tracking, storage, info = _setup(tmp_path, 2)
    import mlflow

    mlflow.set_tracking_uri(tracking)
    exp = mlflow.get_experiment_by_name("t-sweeps")
    assert exp.artifact_location == (tmp_path / "artifacts").resolve().as_uri()
    other = tmp_path / "other"
    other.mkdir()
    tracking_b = f"sqlite:///{other / 'mlflow.db'}"
    search.init_tracking(tracking_b, "t-sweeps", other / "artifacts")
    again = search.create_study(
        "svm", "t-svm", storage, tracking_b, "t-sweeps", {**SVM_CFG, "n_trials": 2}, 3
    )
    assert again["mlflow_parent_run_id"] != info["mlflow_parent_run_id"]
    mlflow.set_tracking_uri(tracking_b)
    assert (
        mlflow.get_run(again["mlflow_parent_run_id"]).info.experiment_id
        == again["mlflow_experiment_id"]
    )


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda m: m["dae"]["fixed"].__setitem__("lr", 0.01),
            r"models.dae.space and models.dae.fixed both set \['lr'\]",
        ),
        (
            lambda m: m["dae"]["fixed"].__setitem__("epoch", 500),
            r"models.dae.fixed: unknown parameter\(s\) \['epoch'\]",
        ),
        (
            lambda m: m["svm"]["space"].__setitem__("c", "loguniform(1, 2)"),
            r"models.svm.space: unknown parameter\(s\) \['c'\]",
        ),
    ],
)
def test_space_and_fixed_parameters_are_checked(edit, message):
    from uhecr import configuration

    models_cfg = configuration.load(configuration.ROOT / "config" / "quick.yaml")["models"]
    edit(models_cfg)
    with pytest.raises(ValueError, match=message):
        validate_spaces(models_cfg)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"distribution": "range(2, 5)", "when": {"kernal": "poly"}},
            r"degree.when.kernal: 'kernal' is not",
        ),
        (
            {"distribution": "range(2, 5)", "when": {"kernel": "polynomial"}},
            r"'polynomial' is not one of the choices",
        ),
        (
            {"distribution": "range(2, 5)", "whn": {"kernel": "poly"}},
            r"structured space has the keys",
        ),
        ({"distrib": "range(2, 5)"}, r"models.svm.space.degree: a structured space"),
    ],
)
def test_conditional_spaces_are_checked(spec, message):
    space = {"C": "loguniform(0.1, 10)", "kernel": "choice(['rbf', 'poly'])", "degree": spec}
    with pytest.raises(ValueError, match=message):
        parse_space(space, "svm")


def test_nulled_space_entry_is_not_searched_and_may_be_fixed():
    space = {"C": "loguniform(0.1, 10)", "kernel": "choice(['rbf'])", "degree": None}
    assert set(parse_space(space, "svm")) == {"C", "kernel"}
    validate_spaces(
        {"enabled": ["svm"], "svm": {"n_trials": 2, "fixed": {"degree": 3}, "space": space}}
    )


@pytest.mark.slow
def test_an_interrupted_sweep_ends_like_an_uninterrupted_one(tmp_path, monkeypatch):
    """One worker killed in the middle of its third trial (the job dies: the trial stays
    RUNNING), then rerun: the killed trial is marked and its parameters rerun once in the same
    budget slot with the same seeds, nothing finished is recomputed, and every slot's
    parameters and value, and so the best parameters, equal those of an uninterrupted sweep."""
    from uhecr import models

    def sweep(folder):
        folder.mkdir()
        journal, tracking, storage, info = _setup(folder, 5)
        return journal, tracking, storage, info

    def by_slot(storage):
        study = optuna.load_study(study_name="t-svm", storage=storage)
        killed = search.killed_trials(study)
        done = [t for t in study.get_trials() if search.counted(t, killed)]
        return {t.user_attrs["slot"]: (t.params, t.value) for t in done}, study

    journal, tracking, storage, info = sweep(tmp_path / "plain")
    _worker((journal, info, "00", tracking, 5))
    reference, _ = by_slot(storage)
    reference_best, _ = search.summarise_study(info, storage, {**SVM_CFG, "n_trials": 5}, tracking)

    journal, tracking, storage, info = sweep(tmp_path / "killed")
    fit, calls = models.MODELS["svm"].fit, []

    def dies_in_third_trial(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise SystemExit("the job was killed")  # not an Exception: the trial stays RUNNING
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(models.MODELS["svm"], "fit", dies_in_third_trial)
    with pytest.raises(SystemExit):
        _worker((journal, info, "00", tracking, 5))
    monkeypatch.setattr(models.MODELS["svm"], "fit", fit)
    again = _worker((journal, info, "00", tracking, 5))
    assert again["recovered_killed_trials"] == 1
    assert len(again["trials"]) == 3  # the retry and the two slots left; slots 0-1 not rerun
    slots, study = by_slot(storage)
    assert sorted(slots) == list(range(5)) and len(study.trials) == 6
    (killed,) = search.killed_trials(study)
    retry = [t for t in study.trials if t.user_attrs.get("retry_of") == killed]
    assert len(retry) == 1 and retry[0].user_attrs["slot"] == 2
    assert study.trials[killed].state == TrialState.FAIL
    for slot, (params, value) in reference.items():
        assert slots[slot][0] == pytest.approx(params), slot
        assert slots[slot][1] == pytest.approx(value), slot
    best, _ = search.summarise_study(info, storage, {**SVM_CFG, "n_trials": 5}, tracking)
    assert best["params"] == reference_best["params"]
    assert best["best_val_accuracy"] == pytest.approx(reference_best["best_val_accuracy"])


@pytest.mark.slow
def test_an_interrupted_hyperband_sweep_prunes_like_an_uninterrupted_one(tmp_path, monkeypatch):
    """The default pruner: a trial killed after it reported at a rung is left out of the
    competition and its retry lands in the same bracket (brackets follow the budget slot), so
    every slot ends in the same state with the same value as in an uninterrupted sweep."""
    from uhecr import models

    cfg = {
        "n_trials": 10,
        "fixed": {"num_boost_round": 90},
        "space": {"learning_rate": "loguniform(0.0001, 1)", "max_depth": "range(1, 4)"},
    }
    search_cfg = {
        "sampler": {"name": "tpe", "n_startup_trials": 3},
        "pruner": {"name": "hyperband", "min_resource": 1, "max_resource": 9},
    }

    def run(folder):
        folder.mkdir()
        storage = search.storage_for("journal", folder / "optuna.journal")
        tracking = f"sqlite:///{folder / 'mlflow.db'}"
        search.init_tracking(tracking, "t-hbk", folder / "artifacts")
        info = search.create_study("xgboost", "t-hbk", storage, tracking, "t-hbk", cfg, 3)
        args = ("xgboost", cfg, _blobs(), storage, info, "00", search_cfg, 3, tracking)
        return storage, args

    def by_slot(storage):
        study = optuna.load_study(study_name="t-hbk", storage=storage)
        killed = search.killed_trials(study)
        done = [t for t in study.get_trials() if search.counted(t, killed)]
        return {t.user_attrs["slot"]: (t.params, t.state, t.value) for t in done}, study

    storage, args = run(tmp_path / "plain")
    search.run_worker(*args)
    reference, _ = by_slot(storage)
    assert TrialState.PRUNED in {state for _, state, _ in reference.values()}

    storage, args = run(tmp_path / "killed")
    fit, calls = models.MODELS["xgboost"].fit, []

    def dies_in_fourth_trial_after_two_reports(self, X, y, X_val=None, y_val=None, report=None,
                                               **kw):  # fmt: skip
        calls.append(1)
        if len(calls) != 4:
            return fit(self, X, y, X_val, y_val, report=report, **kw)

        def dying(step, acc):
            report(step, acc)
            if step == 2:
                raise SystemExit("the job was killed")

        return fit(self, X, y, X_val, y_val, report=dying, **kw)

    monkeypatch.setattr(models.MODELS["xgboost"], "fit", dies_in_fourth_trial_after_two_reports)
    with pytest.raises(SystemExit):
        search.run_worker(*args)
    monkeypatch.setattr(models.MODELS["xgboost"], "fit", fit)
    assert search.run_worker(*args)["recovered_killed_trials"] == 1
    slots, study = by_slot(storage)
    (killed,) = search.killed_trials(study)
    assert study.trials[killed].intermediate_values  # it had reported before it died
    assert sorted(slots) == sorted(reference) == list(range(10))
    for slot, (params, state, value) in reference.items():
        assert slots[slot][0] == pytest.approx(params), slot
        assert slots[slot][1] == state, slot
        assert slots[slot][2] == pytest.approx(value), slot


def test_a_worker_still_running_from_a_killed_snakemake_is_stopped_first(tmp_path):
    """Snakemake killed: its worker job lives on. The rerun's worker stops it (here a local
    process; scancel under SLURM, tests/test_slurm.py) before recovering its trials; a record
    whose pid now names another process (pid reuse) stops nothing."""
    import subprocess
    import sys

    _, _, storage, _ = _setup(tmp_path, 3)
    study = optuna.load_study(study_name="t-svm", storage=storage)
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        record = {
            "host": search.job_of_this_process()["host"],
            "pid": orphan.pid,
            "start": search.process_start(orphan.pid),
        }
        study.set_user_attr("worker_00_job", record)
        stranger = {**record, "start": "0"}  # same pid, another process's start time
        study.set_user_attr("worker_01_job", stranger)
        assert search.claim_worker(study, "01") is None and orphan.poll() is None
        assert search.claim_worker(study, "00") == record
        assert orphan.wait(timeout=30) == -15  # SIGTERM
        study = optuna.load_study(study_name="t-svm", storage=storage)
        assert study.user_attrs["worker_00_job"] == search.job_of_this_process()
        assert search.claim_worker(study, "00") is None  # itself: nothing to stop
    finally:
        orphan.kill()


def test_local_jobs_in_one_slurm_allocation_are_told_apart_by_pid(monkeypatch):
    """``snakemake --cores N`` inside salloc: every worker shares SLURM_JOB_ID. A dead one is
    found dead by its pid (squeue would say the allocation runs), and stopping an orphan never
    cancels the allocation this process runs in."""
    import subprocess
    import sys

    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    me = search.job_of_this_process()
    assert me["slurm_job"] == "4242" and me["pid"] and search.still_running(me)
    dead = {**me, "pid": 2**22 + 1, "start": "0"}
    assert not search.still_running(dead)
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        record = {**me, "pid": orphan.pid, "start": search.process_start(orphan.pid)}
        assert search.still_running(record)
        search.stop_job(record)  # a SIGTERM to the process, no scancel of job 4242
        assert orphan.wait(timeout=30) == -15
    finally:
        orphan.kill()
