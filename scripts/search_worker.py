"""Rule search_worker: one worker of a sweep, evaluating trials until the budget is used."""

import json
import sys
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import search, splits
from uhecr.jobs import rule_job

with rule_job(snakemake):
    p = snakemake.params
    info = json.loads(Path(snakemake.input.study).read_text())
    data = splits.load_split(snakemake.input.table, snakemake.input.manifest, p.features)
    X, y, frame = data["train"]
    showers = frame["shower_id"].to_numpy()
    rows = splits.subsample_showers(showers, p.search["max_train_samples"], p.seed)
    if rows is not None:
        X, y, showers = X[rows], y[rows], showers[rows]
    Xv, yv, frame_val = data["validation"]
    result = search.run_worker(
        p.model,
        p.model_config,
        {"train": (X, y, showers), "validation": (Xv, yv, frame_val["shower_id"].to_numpy())},
        search.storage_for(p.search["storage"], snakemake.input.journal),
        info,
        snakemake.wildcards.worker,
        p.search,
        p.seed,
        json.loads(Path(snakemake.input.tracking).read_text())["tracking_uri"],
        threads=snakemake.threads,
        features=p.features,
    )
    Path(snakemake.output[0]).write_text(json.dumps(result, indent=2))
