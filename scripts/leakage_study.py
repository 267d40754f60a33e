"""Rule leakage_study: one fixed XGBoost on a station split and on a shower split."""

import json
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import evaluation
from uhecr.jobs import rule_job, write_json

with rule_job(snakemake) as log:
    intervals = evaluation.IntervalSettings.from_config(
        snakemake.params.evaluation, snakemake.params.seed
    )
    result = evaluation.leakage_study(
        snakemake.input.table,
        snakemake.params.features,
        snakemake.params.splits,
        intervals,
        threads=snakemake.threads,
    )
    write_json(snakemake.output[0], result)
    log.info("leakage %s", json.dumps(result))
