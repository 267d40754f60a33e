"""Rules compute_features and apply_features: station table (VEM traces) -> trace features, zero signal quarantined."""

import json
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import extraction
from uhecr.features import FeatureSettings
from uhecr.jobs import rule_job

with rule_job(snakemake) as log:
    summary = extraction.compute_feature_table(
        snakemake.input[0],
        snakemake.output.features,
        snakemake.output.quarantine,
        FeatureSettings(**snakemake.params.features),
        on_bad_station=snakemake.params.on_bad_station,
        config_key=snakemake.params.config_key or None,
    )
    log.info("summary %s", json.dumps(summary))
