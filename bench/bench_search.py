"""Sweep benchmarks (issue 4), on the features of a finished run.

1. Trials per hour with 1 worker and with 2 workers (separate processes on one Optuna journal),
   same model, budget and seed.
2. Pruning (median pruner) against no pruning (the reference study's protocol): wall time of the
   sweep and wall time until the best validation accuracy was reached, same budget and seed.

Usage: python bench/bench_search.py [--table results/default/features/stations.parquet]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, print_table, write_json  # noqa: E402

from uhecr import search, splits  # noqa: E402

SEED = 1234


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
            idx = np.random.default_rng(SEED).choice(len(X), max_train, replace=False)
            X, y, showers = X[idx], y[idx], showers[idx]
        out[s] = (X, y, showers)
    return out


def _worker(args):
    model, cfg, data, journal, info, worker, search_cfg, tracking = args
    storage = search.storage_for("journal", journal)
    start = time.perf_counter()
    result = search.run_worker(model, cfg, data, storage, info, worker, search_cfg, SEED, tracking)
    return start, time.perf_counter(), result


def sweep(model, cfg, data, n_workers, pruner, tag):
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-{tag}-"))
    journal = tmp / "optuna.journal"
    tracking = f"sqlite:///{tmp / 'mlflow.db'}"
    storage = search.storage_for("journal", journal)
    search.init_tracking(tracking, "bench", tmp / "artifacts")
    info = search.create_study(model, f"bench-{tag}", storage, tracking, "bench", cfg, SEED)
    search_cfg = {
        "sampler": {"name": "tpe", "n_startup_trials": 4},
        "pruner": {"name": pruner, "n_startup_trials": 3, "n_warmup_steps": 2},
    }
    args = [
        (model, cfg, data, journal, info, f"{w:02d}", search_cfg, tracking)
        for w in range(n_workers)
    ]
    start = time.perf_counter()
    if n_workers == 1:
        _worker(args[0])
    else:
        with mp.get_context("spawn").Pool(n_workers) as pool:
            pool.map(_worker, args)
    wall = time.perf_counter() - start
    import optuna

    study = optuna.load_study(study_name=f"bench-{tag}", storage=storage)
    done = sorted(
        (t for t in study.trials if t.datetime_complete), key=lambda t: t.datetime_complete
    )
    t0 = min(t.datetime_start for t in study.trials if t.datetime_start)
    best, t_best = -1.0, 0.0
    for t in done:
        if t.value is not None and t.state.name == "COMPLETE" and t.value > best:
            best, t_best = t.value, (t.datetime_complete - t0).total_seconds()
    states = [t.state.name for t in study.trials]
    return {
        "workers": n_workers,
        "pruner": pruner,
        "trials": len(done),
        "wall_s": wall,
        "trials_per_hour": len(done) / wall * 3600,
        "best_val_accuracy": best,
        "time_to_best_s": t_best,
        "pruned": states.count("PRUNED"),
    }


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
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--max-train", type=int, default=20_000)
    parser.add_argument(
        "--model", choices=["xgboost", "dae", "svm", "sdae", "vae"], default="xgboost"
    )
    parser.add_argument("--epochs", type=int, default=20, help="autoencoder epochs per trial")
    args = parser.parse_args()
    cfg_all = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    features = cfg_all["models"]["features"]
    data = load(args.table, features, args.max_train)
    cfg = {**cfg_all["models"][args.model], "n_trials": args.trials}
    if args.model == "xgboost":  # keep single trials short enough for a benchmark
        cfg["space"] = {**cfg["space"], "num_boost_round": "choice([100, 250, 500])"}
    if "epochs" in cfg.get("fixed", {}):
        cfg["fixed"] = {**cfg["fixed"], "epochs": args.epochs}
    n_train = len(data["train"][0])
    print(f"table {args.table}: {n_train} training stations, {args.trials} {args.model} trials")

    workers = [sweep(args.model, cfg, data, n, "none", f"w{n}") for n in (1, 2)]
    for r in workers:
        r["ratio"] = r["trials_per_hour"] / workers[0]["trials_per_hour"]
    print_table(f"{args.model}: trials per hour, 1 vs 2 workers (no pruning)", workers)

    pruning = [sweep(args.model, cfg, data, 1, p, f"p-{p}") for p in ("none", "median")]
    for r in pruning:
        r["ratio"] = r["wall_s"] / pruning[0]["wall_s"]
    print_table(f"{args.model}: pruning vs no pruning (1 worker, same budget and seed)", pruning)
    write_json(
        f"search_{args.model}",
        {
            "table": str(args.table),
            "model": args.model,
            "n_train": n_train,
            "workers": workers,
            "pruning": pruning,
        },
    )


if __name__ == "__main__":
    main()
