"""Rule test_metrics: per-station (shower bootstrap) and per-shower metrics of one model."""

import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import evaluation
from uhecr.jobs import rule_job, write_json

with rule_job(snakemake) as log:
    p = snakemake.params
    metrics = evaluation.compute_test_metrics(
        pd.read_parquet(snakemake.input.predictions),
        json.loads(Path(snakemake.input.fit).read_text()),
        evaluation.IntervalSettings.from_config(p.evaluation, p.seed),
        split_method=p.split_method,
    )
    write_json(snakemake.output[0], metrics, default=str)
    log.info("test accuracy %s", json.dumps(metrics["accuracy"], default=str))
