"""Sweep benchmarks (issue 14), on the features of a finished run.

1. Worker scaling: trials per hour of one worker and of two (separate processes on one Optuna
   journal, one thread each as the rule ``search_worker`` has), no pruning, over a sweep as long
   as the study's (``--worker-trials``; the thesis config runs 50-100). Both sweeps draw the
   same trials (random sampler seeded by the budget slot), so the ratio measures the parallel
   throughput, not a different mix of slow and fast configurations. One and two workers run in
   ``--worker-rounds`` interleaved rounds, the order swapped every round (the machine's speed
   drifts); each round's ratio is over its own one-worker sweep, and the summary gives the
   median and the min. Each process's fixed cost (interpreter, imports, study and MLflow
   set-up, until its first trial starts) is reported. The reference is the machine's own
   ceiling for that work, measured in the same run: the same fit (the sweep's best parameters)
   run 4 times in one process, then 4 times in each of two processes at once; fits per second
   of two processes over one (no Optuna, no MLflow).
2. Pruning against no pruning (the reference study's protocol), one worker, TPE, same budget,
   for each variant of ``--pruners`` (e.g. ``median:n_warmup_steps=10``), repeated for
   ``--repeats`` seeds (one seed says little: which trial TPE draws when is luck):
   wall time, best validation accuracy, and the time until the sweep was within ``--tolerance``
   of the unpruned sweep's best of the same seed (``time_to_target_s``; None: never). The
   summary gives the median over the seeds.
3. Replays (``--pruners`` and ``--replay-pruners``): each pruner, Optuna's own in an in-memory
   study, fed the learning curves the unpruned sweep recorded, trial by trial in its order.
   What it cuts, and whether it cuts the trial that reaches the target, without the other
   configurations TPE draws after a pruning in a live sweep. A pruned trial costs its share of
   the steps (optimistic: set-up and scoring are not cut). With it, per seed, the floor of any
   pruner on those trials (``oracle_floor``: the best choice of the trial that reaches the
   target, every trial before it but the first stopped at its first report), the Spearman rank
   correlation of the trials' accuracy at steps 1, 3, 5 and 10 with their final accuracy, and
   the step-to-step noise against the spread of the final accuracies.

Every sweep runs in fresh worker processes (spawn), so each pays the same start-up; they get
the thread environment Snakemake gives a rule's jobs (``OMP_NUM_THREADS`` etc. = ``THREADS``).
A trial that raised fails the benchmark. Writes ``results/bench/search.json``.

Usage: python bench/bench_search.py [--models xgboost dae] [--trials 16] [--repeats 5]
       [--worker-trials 48] [--worker-rounds 2] [--max-train 20000] [--epochs 20]
       [--worker-epochs 5] [--pruners median hyperband config median:n_warmup_steps=10]
       [--replay-pruners successive_halving:min_resource=3 ...]
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, print_table, write_json  # noqa: E402

from uhecr import models, search, splits  # noqa: E402

SEED = 1234
THREADS = 1  # threads of rule search_worker (rules/search.smk)
# What Snakemake sets for every job of a rule (snakemake/shell.py): the native BLAS and OpenMP
# pools start at the rule's threads. Set in main(), inherited by the spawned worker processes.
SNAKEMAKE_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "GOTO_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
PRUNER_SCHEMA = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())["$defs"]["model"][
    "properties"
]["pruner"]


def pruner_settings(spec: str, model: str) -> dict:
    """A pruner variant: ``NAME`` (median, hyperband, successive_halving: the default config's
    search.pruner settings under that name), ``config`` (the pruner the default config gives
    this model, its own keys included) or either with ``:KEY=VALUE,...`` overriding some
    settings, e.g. ``median:n_warmup_steps=10``. The unpruned reference is always run."""
    import jsonschema

    name, _, overrides = spec.partition(":")
    if name == "config":
        out = search.pruner_config(model, CONFIG["models"][model], CONFIG["search"])
    elif name in ("median", "hyperband", "successive_halving"):
        out = {**CONFIG["search"]["pruner"], "name": name}
    else:
        raise SystemExit(
            f"--pruners {spec}: {name!r} is not median | hyperband | successive_halving | config "
            "(no pruning is the reference of every seed)"
        )
    for item in filter(None, overrides.split(",")):
        key, sep, value = item.partition("=")
        if not sep or key not in search.PRUNER_SETTINGS[out["name"]]:
            raise SystemExit(
                f"--pruners {spec}: {item!r} is not KEY=VALUE with a key the {out['name']} "
                f"pruner reads ({sorted(search.PRUNER_SETTINGS[out['name']])})"
            )
        out[key] = yaml.safe_load(value)
    try:  # bad values fail here, before any sweep
        jsonschema.validate(out, PRUNER_SCHEMA)
        search.model_pruner(model, {**CONFIG["models"][model], "pruner": None}, {"pruner": out})
    except (jsonschema.ValidationError, ValueError) as exc:
        raise SystemExit(f"--pruners {spec}: {getattr(exc, 'message', exc)}") from exc
    return out


def load(table: Path, features: list[str], max_train: int):
    import numpy as np
    import pandas as pd

    df = pd.read_parquet(table)
    labels = splits.make_split(df, "shower", 0.2, 0.2, SEED)
    out = {}
    for s in ("train", "validation"):
        part = df[labels == s]
        X, y = part[features].to_numpy(float), part["label"].to_numpy()
        showers = part["shower_id"].to_numpy()
        if len(X) > max_train:
            idx = np.sort(np.random.default_rng(SEED).choice(len(X), max_train, replace=False))
            X, y, showers = X[idx], y[idx], showers[idx]
        out[s] = (X, y, showers)
    return out


def _worker(args):
    model, cfg, data, journal, info, worker, search_cfg, tracking, features, seed, free = args
    storage = search.storage_for("journal", journal)
    return search.run_worker(
        model, cfg, data, storage, info, worker, search_cfg, seed, tracking, THREADS, features,
        free_running=free,
    )  # fmt: skip


def _fits(args):
    """Fit one model ``n`` times (after an untimed warm-up fit, then a barrier so that parallel
    processes start their timed fits together); returns (start, end) stamps."""
    model, params, data, features, n, barrier = args
    (X, y, groups) = data["train"]
    every = slice(None, None, max(1, len(X) // 500))  # a spread-out subset: every class
    models.build(model, params, SEED, THREADS, features).fit(
        X[every], y[every], groups=groups[every]
    )
    barrier.wait()
    start = time.time()
    for _ in range(n):
        models.build(model, params, SEED, THREADS, features).fit(X, y, groups=groups)
    return start, time.time()


def parallel_ceiling(model, params, data, features, n=4) -> dict:
    """Fits per second with two processes over one process, the same fit throughout."""
    rate = {}
    ctx = mp.get_context("spawn")
    for procs in (1, 2):
        with ctx.Manager() as manager, ctx.Pool(procs) as pool:
            barrier = manager.Barrier(procs)
            stamps = pool.map(_fits, [(model, params, data, features, n, barrier)] * procs)
        span = max(e for _, e in stamps) - min(s for s, _ in stamps)
        rate[procs] = procs * n / span
    return {"fit_s_one_process": 1 / rate[1], "ratio": rate[2] / rate[1], "fits": n}


@functools.cache
def _migrated_store() -> Path:
    """One MLflow SQLite store per bench process, created and schema-migrated (15-40 s)."""
    from mlflow.tracking import MlflowClient

    template = Path(tempfile.mkdtemp(prefix="bench-mlflow-")) / "mlflow.db"
    MlflowClient(f"sqlite:///{template}").search_experiments()  # creates and migrates it
    return template


def fresh_tracking_store(folder: Path) -> str:
    """A new MLflow SQLite store in ``folder`` (only MLflow's Default experiment): a copy of
    ``_migrated_store``, made in milliseconds before the timed part of a sweep."""
    shutil.copyfile(_migrated_store(), folder / "mlflow.db")
    return f"sqlite:///{folder / 'mlflow.db'}"


def sweep(model, cfg, data, features, n_workers, sampler, pruner, tag, target=None, seed=SEED,
          free_running=False):  # fmt: skip
    import optuna

    tmp = Path(tempfile.mkdtemp(prefix=f"bench-{model}-{tag}-"))
    journal = tmp / "optuna.journal"
    tracking = fresh_tracking_store(tmp)
    storage = search.storage_for("journal", journal)
    search.init_tracking(tracking, "bench", tmp / "artifacts")
    info = search.create_study(model, f"bench-{tag}", storage, tracking, "bench", cfg, seed)
    settings = {"name": "none"} if pruner == "none" else pruner_settings(pruner, model)
    # The workflow's schedule (search.trials_per_batch); free_running: the reference without it.
    search_cfg = {
        "sampler": sampler,
        "pruner": settings,
        "trials_per_batch": CONFIG["search"]["trials_per_batch"],
    }
    args = [
        (model, cfg, data, journal, info, f"{w:02d}", search_cfg, tracking, features, seed,
         free_running)
        for w in range(n_workers)
    ]  # fmt: skip
    start = time.time()
    with mp.get_context("spawn").Pool(n_workers) as pool:
        pool.map(_worker, args)
    wall = time.time() - start
    study = optuna.load_study(study_name=f"bench-{tag}", storage=storage)
    failed = [t.number for t in study.trials if t.state.name == "FAIL"]
    if any(t.user_attrs.get("status") == "error" for t in study.trials):
        raise RuntimeError(f"{model} {tag}: trials {failed} raised (see the worker logs)")
    done = sorted(
        (t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")),
        key=lambda t: t.datetime_complete,
    )
    # Fixed cost of the slowest-starting process: pool start until its first trial starts.
    first_start = {}
    for t in done:
        w = t.user_attrs.get("worker")
        first_start[w] = min(first_start.get(w, t.datetime_start), t.datetime_start)
    start_up = max(d.timestamp() for d in first_start.values()) - start
    best, t_best, t_target = -1.0, None, None
    for t in done:
        since = t.datetime_complete.timestamp() - start
        if t.state.name == "COMPLETE" and t.value > best:
            best, t_best = t.value, since
        if t_target is None and target is not None and t.state.name == "COMPLETE":
            if t.value >= target:
                t_target = since
    states = [t.state.name for t in done]
    best_params = {**study.best_params, **cfg.get("fixed", {})} if best >= 0 else None
    complete = [
        (t.datetime_complete.timestamp() - start, t.value)
        for t in done
        if t.state.name == "COMPLETE"
    ]

    def completions(level):  # seconds until a complete trial reached ``level``
        return next((since for since, value in complete if value >= level), None)

    # What a replay needs (``replay``): each trial's learning curve, its time and the time
    # between trials (start-up, logging), in the order the trials finished.
    curves, clock = [], start
    for t in done:
        curves.append(
            {
                # A trial's start is when its slot was taken; it may then wait for the earlier
                # batches (wait_s): that wait counts as time between trials.
                "gap_s": t.datetime_start.timestamp() - clock + t.user_attrs.get("wait_s", 0),
                "seconds": (t.datetime_complete - t.datetime_start).total_seconds()
                - t.user_attrs.get("wait_s", 0),
                "curve": sorted(t.intermediate_values.items()),
                "value": t.value if t.state.name == "COMPLETE" else None,
                "seed": t.user_attrs.get("seed"),
            }
        )
        clock = t.datetime_complete.timestamp()
    return {
        "completions": completions,
        "curves": curves,
        "best_params": best_params,
        "workers": n_workers,
        "sampler": sampler["name"],
        "pruner": pruner,
        "trials": len(done),
        "pruned": states.count("PRUNED"),
        "wall_s": wall,
        "start_up_s": start_up,
        "start_up_share": start_up / wall,
        "trials_per_hour": len(done) / wall * 3600,
        "best_val_accuracy": best,
        "time_to_best_s": t_best,
        "time_to_target_s": t_target,
    }


def _median(values):
    """Median over the seeds; a seed that never reached its target counts as infinitely late
    (None when that is the median)."""
    import numpy as np

    median = float(np.median([np.inf if v is None else v for v in values]))
    return median if np.isfinite(median) else None


def bench_model(model, args, cfg_all, data, features):
    def config(n_trials, epochs):
        # The variant under test is the pruner, not the model's own settings (--pruners config).
        cfg = {**cfg_all["models"][model], "n_trials": n_trials, "pruner": None}
        if model == "xgboost" and not args.study_space:  # trials short enough for a benchmark
            cfg["space"] = {**cfg["space"], "num_boost_round": "choice([100, 250, 500])"}
        if "epochs" in cfg.get("fixed", {}):
            cfg["fixed"] = {**cfg["fixed"], "epochs": epochs}
        return cfg

    def epochs_note(cfg, epochs):  # for the table titles: networks only
        return f", {epochs} epochs" if "epochs" in cfg.get("fixed", {}) else ""

    out = {"n_trials": args.trials}
    if args.worker_rounds:
        out["worker_trials"] = args.worker_trials
        cfg = config(args.worker_trials, args.worker_epochs)
        out.update(
            bench_workers(model, args, cfg, data, features, epochs_note(cfg, args.worker_epochs))
        )
    if args.repeats:
        cfg = config(args.trials, args.epochs)
        out.update(bench_pruning(model, args, cfg, data, features, epochs_note(cfg, args.epochs)))
    return out


def bench_workers(model, args, cfg, data, features, note) -> dict:
    """Trials per hour of 1, 2 (and ``--schedule-workers``) workers with the batch schedule
    and free-running, in interleaved rounds, and the two-process ceiling. Random sampling
    (seeded per slot): both schedules evaluate the very same trials, so the difference is the
    schedule's waiting alone."""
    random = {"name": "random"}
    counts = sorted({1, 2, *args.schedule_workers})
    workers, ratios, costs = [], [], {n: [] for n in counts}
    for round_ in range(args.worker_rounds):  # interleaved: 1, 2, 4, then 4, 2, 1, ...
        runs = {}
        for n in counts if round_ % 2 == 0 else counts[::-1]:
            for schedule in ("batch", "free"):
                runs[n, schedule] = sweep(
                    model, cfg, data, features, n, random, "none",
                    f"w{n}-{schedule}-r{round_}", free_running=schedule == "free",
                )  # fmt: skip
        one = runs[1, "batch"]["trials_per_hour"]
        for (_n, schedule), r in sorted(runs.items()):
            r.update(round=round_, schedule=schedule, ratio=r["trials_per_hour"] / one)
            r.pop("completions")
            r.pop("curves")
        for n in counts:
            costs[n].append(runs[n, "batch"]["wall_s"] / runs[n, "free"]["wall_s"])
        ratios.append(runs[2, "batch"]["ratio"])
        workers += [runs[key] for key in sorted(runs)]
    best_params = workers[0]["best_params"]
    for r in workers:
        r.pop("best_params")
    ceiling = parallel_ceiling(model, _structured(model, cfg, best_params), data, features)
    print_table(
        f"{model}: trials per hour by workers and schedule ({THREADS} thread each, the same "
        f"{args.worker_trials} trials, no pruning"
        + note
        + f", {CONFIG['search']['trials_per_batch']} trials per batch, {args.worker_rounds} "
        "interleaved rounds; ratio: over the same round's one worker; start_up_s: pool start "
        "until the last process's first trial)",
        workers,
    )
    print(
        f"two workers over one (batch schedule): median {statistics.median(ratios):.3f}, "
        f"min {min(ratios):.3f} over {len(ratios)} rounds"
    )
    for n in counts:
        print(
            f"batch schedule over free-running, {n} worker(s): wall median "
            f"{statistics.median(costs[n]):.3f}, max {max(costs[n]):.3f}"
        )
    print(
        f"ceiling (the same fit in 2 processes at once vs 1, {ceiling['fits']} fits each, "
        f"{ceiling['fit_s_one_process']:.2f} s per fit): {ceiling['ratio']:.3f}"
    )
    return {
        "workers": workers,
        "two_over_one_workers": {"median": statistics.median(ratios), "min": min(ratios)},
        "schedule_cost": {
            str(n): {"median": statistics.median(c), "max": max(c), "rounds": len(c)}
            for n, c in costs.items()
        },
        "parallel_ceiling": ceiling,
    }


def bench_pruning(model, args, cfg, data, features, note) -> dict:
    """Each pruner variant against no pruning, over ``args.repeats`` seeds."""
    tpe = {"name": "tpe", "n_startup_trials": 4}
    replayed = distinct_pruners(model, cfg, [*args.pruners, *args.replay_pruners])
    variants = {spec: replayed[spec] for spec in args.pruners if spec in replayed}  # also live
    pruning, replays, correlations, curves = [], [], [], []
    for repeat in range(args.repeats):
        seed = SEED + repeat
        reference = sweep(model, cfg, data, features, 1, tpe, "none", f"p-none-{seed}", seed=seed)
        target = reference["best_val_accuracy"] - args.tolerance
        reference["time_to_target_s"] = reference.pop("completions")(target)
        rows = [reference] + [
            sweep(model, cfg, data, features, 1, tpe, p, f"p-{i}-{seed}", target, seed=seed)
            for i, p in enumerate(variants)
        ]
        replays += [
            {"seed": seed, **replay(model, cfg, spec, replayed[spec], reference, target)}
            for spec in replayed
        ]
        correlations.append(
            {
                "seed": seed,
                "unpruned_target_ratio": reference["time_to_target_s"] / reference["wall_s"],
                "oracle_target_ratio": oracle_floor(reference, target),
                **rank_correlations(reference["curves"]),
            }
        )
        curves.append({"seed": seed, "trials": reference["curves"]})
        for r in rows:
            r.pop("best_params")
            r.pop("completions", None)
            r.pop("curves")
            r["seed"] = seed
            r["target"] = target
            r["wall_ratio"] = r["wall_s"] / reference["wall_s"]
            t = r["time_to_target_s"]
            # Time to the target over the unpruned sweep's wall time (the criterion)
            # and over the unpruned sweep's own time to the same target.
            r["target_ratio"] = None if t is None else t / reference["wall_s"]
            r["target_vs_unpruned_target"] = (
                None if t is None else t / reference["time_to_target_s"]
            )
        pruning += rows
    print_table(
        f"{model}: pruning vs none (1 worker, TPE, {args.trials} trials"
        + note
        + f", {args.repeats} seeds; target = the same seed's unpruned best - {args.tolerance}; "
        "wall_ratio and target_ratio over the unpruned sweep's wall time, "
        "target_vs_unpruned_target over its time to the same target)",
        pruning,
    )
    medians = {
        p: {
            key: _median([r[key] for r in pruning if r["pruner"] == p])
            for key in ("wall_ratio", "target_ratio", "best_val_accuracy")
        }
        for p in ("none", *variants)
    }
    for p, m in medians.items():
        m["reached_target"] = sum(
            r["time_to_target_s"] is not None for r in pruning if r["pruner"] == p
        )
    print_table(
        f"{model}: medians over {args.repeats} seeds (reached_target: seeds whose sweep got "
        "within the tolerance of the unpruned best)",
        [{"pruner": p, **m} for p, m in medians.items()],
    )
    if replays:
        print_table(
            f"{model}: each pruner replayed on the unpruned sweep's trials (the same "
            "configurations in the same order, their recorded learning curves; a pruned trial "
            "costs its share of the steps: optimistic, a trial's set-up is not cut)",
            replays,
        )
        print_table(
            f"{model}: per seed, the unpruned sweep's time to the target and the floor of any "
            "pruner on its trials (oracle_floor), both over its wall time; Spearman rank "
            "correlation of the trials' validation accuracy at a step with their final one "
            "(over the trials that reached the step); step-to-step noise and the spread of the "
            "final accuracies",
            correlations,
        )
        for p in replayed:
            medians.setdefault(p, {})["replay"] = {
                key: _median([r[key] for r in replays if r["pruner"] == p])
                for key in ("wall_ratio", "target_ratio")
            }
            medians[p]["replay"]["reached_target"] = sum(
                r["target_ratio"] is not None for r in replays if r["pruner"] == p
            )
        medians["oracle"] = {
            "replay": {"target_ratio": _median([c["oracle_target_ratio"] for c in correlations])}
        }
        print_table(
            f"{model}: replay medians over {args.repeats} seeds",
            [
                {
                    "pruner": p,
                    **{k: medians[p]["replay"].get(k) for k in ("wall_ratio", "target_ratio")},
                    "reached_target": medians[p]["replay"].get("reached_target"),
                }
                for p in (*replayed, "oracle")
            ],
        )
    return {
        "pruners": variants,
        "pruning": pruning,
        "pruning_medians": medians,
        "replayed_pruners": replayed,
        "replays": replays,
        "rank_correlations": correlations,
        "unpruned_curves": curves,
    }


def distinct_pruners(model, cfg, specs) -> dict:
    """spec -> settings, leaving out a spec that resolves to the pruner of an earlier one."""
    variants, resolved = {}, {}
    for spec in specs:
        settings = pruner_settings(spec, model)
        resolved[spec] = search.model_pruner(model, {**cfg, "pruner": None}, {"pruner": settings})
        same = [other for other in variants if resolved[other] == resolved[spec]]
        if same:
            print(f"{model}: pruner {spec} has the settings of {same[0]}: not run twice")
        else:
            variants[spec] = settings
    return variants


RANK_STEPS = (1, 3, 5, 10)  # rungs pruners compare at: epochs, or blocks of 10 rounds


def rank_correlations(curves) -> dict:
    """Spearman correlation between the trials' accuracy at a step (``RANK_STEPS``, the same
    amount of training for every trial, as a pruner compares them) and their final accuracy,
    over the trials that reported that step: how well a rung ranks the trials. None with fewer
    than 3 such trials or constant values."""
    import numpy as np
    from scipy.stats import spearmanr

    out, by_step = {}, [dict(c["curve"]) for c in curves]
    for step in RANK_STEPS:
        pairs = [
            (at[step], c["value"]) for at, c in zip(by_step, curves, strict=True) if step in at
        ]
        rho = spearmanr(*zip(*pairs, strict=True)).statistic if len(pairs) >= 3 else None
        out[f"at_step_{step}"] = None if rho is None or not np.isfinite(rho) else float(rho)
    # Step-to-step noise in a trial's last quarter: the standard deviation of the differences
    # between consecutive steps over sqrt 2 (one step's scatter if steps scatter independently
    # about a flat curve), against the spread of the final values between trials.
    noise = [
        np.std(np.diff(values[-max(4, len(values) // 4) :]), ddof=1) / np.sqrt(2)
        for values in ([v for _, v in c["curve"]] for c in curves)
        if len(values) >= 4
    ]
    finals = [c["value"] for c in curves]
    out["step_noise_median"] = float(np.median(noise)) if noise else None
    out["final_spread"] = float(np.std(finals, ddof=1)) if len(finals) >= 2 else None
    return out


def oracle_floor(reference, target) -> float | None:
    """The earliest any pruner could reach ``target`` on the unpruned sweep's trials, in their
    order, with time as in ``replay``: the least, over the trials at or above the target, of
    the time when every trial before it stops at its first report and it trains in full. The
    first trial always trains in full: no pruner stops it, having nothing to compare it with
    (its time also holds the process's one-off warm-up). None: no trial reaches the target."""
    clock, floor = 0.0, None
    for i, c in enumerate(reference["curves"]):
        clock += c["gap_s"]
        if c["value"] >= target:
            reached = (clock + c["seconds"]) / reference["wall_s"]
            floor = reached if floor is None else min(floor, reached)
        stoppable = i > 0 and c["curve"]  # a trial that reported no step runs in full
        clock += c["seconds"] * (c["curve"][0][0] / c["curve"][-1][0] if stoppable else 1)
    return floor


def replay(model, cfg, spec, settings, reference, target) -> dict:
    """A pruner's decisions on the unpruned sweep's own trials, with Optuna's pruner in an
    in-memory study: each recorded learning curve is reported step by step until the pruner
    stops it. This separates what the pruner cuts (and whether it cuts the configuration that
    reaches the target) from which configurations the sampler draws after a pruning, which the
    live pruned sweeps mix in. A pruned trial's time is its share of the steps reported."""
    import optuna

    pruner = search.make_pruner(
        search.model_pruner(model, {**cfg, "pruner": None}, {"pruner": settings})
    )
    study = optuna.create_study(direction="maximize", pruner=pruner)
    clock, t_target, best, pruned, kept_best = 0.0, None, -1.0, 0, True
    best_unpruned = max(c["value"] for c in reference["curves"])
    for c in reference["curves"]:
        trial = study.ask()
        trial.set_user_attr("seed", c["seed"])
        clock += c["gap_s"]
        last = c["curve"][-1][0] if c["curve"] else None  # no step reported: never pruned
        for step, value in c["curve"]:
            trial.report(value, step)
            if trial.should_prune():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                clock += c["seconds"] * step / last
                pruned += 1
                kept_best &= c["value"] < best_unpruned
                break
        else:
            study.tell(trial, c["value"])
            clock += c["seconds"]
            best = max(best, c["value"])
            if t_target is None and c["value"] >= target:
                t_target = clock
    wall = reference["wall_s"]
    return {
        "pruner": spec,
        "pruned": pruned,
        "best_val_accuracy": best,
        "kept_unpruned_best": kept_best,
        "wall_ratio": clock / wall,
        "target_ratio": None if t_target is None else t_target / wall,
    }


def _structured(model, cfg, flat: dict) -> dict:
    """Optuna's flat parameter names -> the model's parameters (layer lists rebuilt)."""
    from uhecr.spaces import parse_space

    fixed = cfg.get("fixed", {})
    suggested = {k: v for k, v in flat.items() if k not in fixed}
    return {**search.params_from_trial(suggested, parse_space(cfg["space"], model)), **fixed}


def main() -> None:
    parser = argparse.ArgumentParser()
    default = ROOT / "results" / "default" / "features" / "stations.parquet"
    parser.add_argument(
        "--table",
        type=Path,
        default=default
        if default.exists()
        else ROOT / "results" / "quick" / "features" / "stations.parquet",
    )
    parser.add_argument("--trials", type=int, default=16, help="per pruning sweep")
    parser.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="seeds of the pruning sweeps (0: no pruning benchmark)",
    )
    parser.add_argument("--worker-trials", type=int, default=48, help="per worker-scaling sweep")
    parser.add_argument(
        "--worker-rounds",
        type=int,
        default=2,
        help="interleaved rounds of 1 and 2 workers (0: no worker benchmark)",
    )
    parser.add_argument(
        "--schedule-workers",
        type=int,
        nargs="*",
        default=[4],
        help="worker counts, besides 1 and 2, at which the batch schedule's wall time is "
        "compared with free-running",
    )
    parser.add_argument("--max-train", type=int, default=20_000)
    parser.add_argument(
        "--models",
        nargs="+",
        choices=list(models.MODELS),
        default=["xgboost", "dae"],
    )
    parser.add_argument("--epochs", type=int, default=20, help="epochs per pruning trial")
    parser.add_argument("--worker-epochs", type=int, default=5, help="epochs per worker trial")
    parser.add_argument("--tolerance", type=float, default=0.005, help="of the best accuracy")
    parser.add_argument(
        "--pruners",
        nargs="*",
        default=["median", "hyperband", "config"],
        help="pruner variants, each against no pruning: NAME or NAME:KEY=VALUE,... "
        "(e.g. median:n_warmup_steps=10); the rest from the default config",
    )
    parser.add_argument(
        "--study-space",
        action="store_true",
        help="XGBoost's boosting rounds from the default config's space (10-2500) instead of "
        "100, 250 or 500",
    )
    parser.add_argument(
        "--replay-pruners",
        nargs="*",
        default=[
            "median:n_warmup_steps=1",
            "median:n_warmup_steps=3",
            "median:n_warmup_steps=10",
            "hyperband:min_resource=3",
            "successive_halving",
            "successive_halving:min_resource=3",
            "successive_halving:min_resource=5",
            "successive_halving:reduction_factor=2",
        ],
        help="pruner variants only replayed on the unpruned sweeps' trials, not run live",
    )
    args = parser.parse_args()
    os.environ.update({name: str(THREADS) for name in SNAKEMAKE_THREAD_VARIABLES})
    for model in args.models:
        for spec in [*args.pruners, *args.replay_pruners]:
            pruner_settings(spec, model)
    features = CONFIG["models"]["features"]
    data = load(args.table, features, args.max_train)
    print(f"table {args.table}: {len(data['train'][0])} training stations")
    results = {m: bench_model(m, args, CONFIG, data, features) for m in args.models}
    summary = {}
    for m, r in results.items():
        if "workers" in r:
            summary[f"{m}_two_over_one_workers"] = r["two_over_one_workers"]["median"]
            summary[f"{m}_two_over_one_workers_min"] = r["two_over_one_workers"]["min"]
            summary[f"{m}_two_over_one_processes_ceiling"] = r["parallel_ceiling"]["ratio"]
            for n, cost in r["schedule_cost"].items():
                summary[f"{m}_batch_over_free_wall_{n}_workers"] = cost["median"]
        for pruner in r.get("pruners", []):  # medians over the seeds
            med = r["pruning_medians"][pruner]
            summary[f"{m}_{pruner}_over_none_wall"] = med["wall_ratio"]
            summary[f"{m}_{pruner}_to_target_over_none_wall"] = med["target_ratio"]
        for pruner in [*r["replayed_pruners"], "oracle"] if r.get("replays") else []:
            med = r["pruning_medians"][pruner]["replay"]
            summary[f"{m}_{pruner}_replay_to_target_over_none_wall"] = med["target_ratio"]
    if summary:
        print_table("summary", [{"ratio": k, "value": v} for k, v in summary.items()])
    write_json(
        "search",
        {
            "table": str(args.table),
            "n_train": len(data["train"][0]),
            "tolerance": args.tolerance,
            "repeats": args.repeats,
            "worker_rounds": args.worker_rounds,
            "epochs": args.epochs,
            "study_space": args.study_space,
            "worker_epochs": args.worker_epochs,
            "trials_per_batch": CONFIG["search"]["trials_per_batch"],
            "worker_thread_environment": {n: os.environ[n] for n in SNAKEMAKE_THREAD_VARIABLES},
            **summary,
            "models": results,
        },
    )


if __name__ == "__main__":
    main()
