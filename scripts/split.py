"""Rule split: train / validation / test labels (by shower by default) and their manifest."""

import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import splits
from uhecr.jobs import rule_job

with rule_job(snakemake) as log:
    cfg, seed = snakemake.params.splits, snakemake.params.seed
    table = Path(snakemake.input[0])
    df = pd.read_parquet(table, columns=["shower_id", "station_id", "primary"])
    labels = splits.make_split(
        df, cfg["method"], cfg["test_fraction"], cfg["validation_fraction"], seed
    )
    summary = splits.write_manifest(
        df,
        labels,
        cfg["method"],
        seed,
        table,
        Path(snakemake.output.manifest),
        Path(snakemake.output.summary),
    )
    log.info("split summary %s", json.dumps(summary))
