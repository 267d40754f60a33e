"""Rule test_metrics: per-station (shower bootstrap) and per-shower metrics of one model."""

import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import evaluation
from uhecr.jobs import rule_job
from uhecr.uncertainty import json_safe

with rule_job(snakemake) as log:
    p = snakemake.params
    metrics = evaluation.compute_test_metrics(
        pd.read_parquet(snakemake.input.predictions),
        json.loads(Path(snakemake.input.fit).read_text()),
        evaluation.IntervalSettings.from_config(p.evaluation, p.seed),
        split_method=p.split_method,
    )
    text = json.dumps(json_safe(metrics), indent=2, default=str, allow_nan=False)
    Path(snakemake.output[0]).write_text(text)
    log.info("test accuracy %s", json.dumps(json_safe(metrics["accuracy"])))
