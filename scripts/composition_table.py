"""Rule composition_table: bias and coverage of the composition fits, all models."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import reporting
from uhecr.jobs import rule_job

with rule_job(snakemake):
    reporting.render_composition_table(
        dict(zip(snakemake.params.models, snakemake.input, strict=True)),
        snakemake.output.markdown,
        snakemake.output.latex,
        snakemake.params.composition,
    )
