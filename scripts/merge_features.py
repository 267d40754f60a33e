"""Rule merge_features: per-file feature tables -> one table; identical inputs are an error."""

import json
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import extraction
from uhecr.jobs import rule_job
from uhecr.showers import CLASSES

with rule_job(snakemake) as log:
    summary = extraction.merge_feature_tables(
        list(snakemake.input.features),
        list(snakemake.input.quarantine),
        snakemake.output.table,
        snakemake.output.quarantine,
        snakemake.output.summary,
        station_summaries=list(snakemake.input.summaries),
        required_classes=CLASSES,
        selection=snakemake.params.selection,
    )
    log.info("summary %s", json.dumps(summary, default=str))
