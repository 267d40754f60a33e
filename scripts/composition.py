"""Rule composition: template fit of the primary fractions, validated by pseudo-experiments."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import composition
from uhecr.jobs import rule_job

with rule_job(snakemake):
    composition.run_composition(
        snakemake.input.predictions,
        snakemake.input.table,
        snakemake.params.composition,
        snakemake.params.hadronic_model,
        snakemake.params.seed,
        snakemake.output.experiments,
        snakemake.output.summary,
        split_method=snakemake.params.split_method,
    )
