"""Rule leakage_study: one fixed XGBoost on a station split and on a shower split."""

import json
import sys
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import evaluation
from uhecr.jobs import rule_job
from uhecr.uncertainty import json_safe

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
    Path(snakemake.output[0]).write_text(json.dumps(json_safe(result), indent=2, allow_nan=False))
    log.info("leakage %s", json.dumps(result))
