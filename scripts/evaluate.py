"""Rule evaluate: refit the best configuration on train + validation, predict the test set once."""

import json
import sys
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import evaluation, splits
from uhecr.jobs import rule_job, write_json

with rule_job(snakemake) as log:
    p = snakemake.params
    best = json.loads(Path(snakemake.input.best).read_text())
    data = splits.load_split(snakemake.input.table, snakemake.input.manifest, p.features)
    predictions, fit = evaluation.predict_test(
        snakemake.wildcards.model, best, data, p.seed, threads=snakemake.threads
    )
    predictions.to_parquet(snakemake.output.predictions, index=False)
    write_json(snakemake.output.fit, fit)
    log.info("refit %s", json.dumps(fit, default=str))
