"""Rule replicate_summary: the sweep's variance from every model's replicate sweeps."""

import json
import sys
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import replicates
from uhecr.jobs import rule_job

with rule_job(snakemake) as log:
    p = snakemake.params
    files = iter(snakemake.input.metrics)  # per model, its replicates in order
    metrics = {
        model: [json.loads(Path(next(files)).read_text()) for _ in range(p.replicates)]
        for model in p.models
    }
    summaries = replicates.render(metrics, p.confidence, dict(snakemake.output.items()))
    log.info("replicates %s", json.dumps(summaries))
