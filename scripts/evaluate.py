"""Rule evaluate: refit the best configuration on train + validation, predict the test set once."""

import json
import sys
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import evaluation, splits
from uhecr.jobs import rule_job
from uhecr.uncertainty import json_safe

with rule_job(snakemake) as log:
    p = snakemake.params
    best = json.loads(Path(snakemake.input.best).read_text())
    data = splits.load_split(snakemake.input.table, snakemake.input.manifest, p.features)
    intervals = evaluation.IntervalSettings.from_config(p.evaluation, p.seed)
    metrics, predictions = evaluation.evaluate_on_test(
        snakemake.wildcards.model,
        best,
        data,
        intervals,
        threads=snakemake.threads,
        split_method=p.split_method,
    )
    predictions.to_parquet(snakemake.output.predictions, index=False)
    text = json.dumps(json_safe(metrics), indent=2, default=str, allow_nan=False)
    Path(snakemake.output.metrics).write_text(text)
    log.info("test accuracy %s", json.dumps(metrics["accuracy"]))
