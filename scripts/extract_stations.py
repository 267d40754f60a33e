"""Rules extract_stations and apply_extract: the ROOT files of one sample (or apply dataset) ->
trace-feature table in one chunked pass (the VEM trace table too, if the rule names it)."""

import json
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import extraction
from uhecr.features import FeatureSettings
from uhecr.io import InputLayout, use_zlib_library
from uhecr.jobs import rule_job

with rule_job(snakemake) as log:
    ext = snakemake.params.extraction
    use_zlib_library(ext["zlib_library"])
    summary = extraction.extract_features(
        list(snakemake.input),
        snakemake.output.features,
        snakemake.output.quarantine,
        InputLayout.from_config(ext),
        FeatureSettings(**snakemake.params.features),
        step_size=ext["step_size"],
        on_bad_station=ext["on_bad_station"],
        # apply_extract names the dataset in params (its wildcard is {dataset}).
        sample=getattr(snakemake.params, "sample", None) or snakemake.wildcards.sample,
        config_key=snakemake.params.config_key or None,
        summary_path=snakemake.output.summary,
        trace_path=getattr(snakemake.output, "traces", None),
    )
    log.info("summary %s", json.dumps(summary))
