"""Rule collect_search: best parameters and the trials table of a finished sweep."""

import json
import sys
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import search
from uhecr.jobs import rule_job

with rule_job(snakemake) as log:
    p = snakemake.params
    info = json.loads(Path(snakemake.input.study).read_text())
    summary, trials = search.summarise_study(
        info,
        search.storage_for(p.search["storage"], snakemake.input.journal),
        p.model_config,
        json.loads(Path(snakemake.input.tracking).read_text())["tracking_uri"],
    )
    trials.to_csv(snakemake.output.trials, index=False)
    Path(snakemake.output.best).write_text(json.dumps(summary, indent=2, default=str))
    log.info("best %s", json.dumps(summary, default=str))
