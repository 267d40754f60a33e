"""Rule validation_table: the simulation checks as Markdown (report) and LaTeX (paper) tables."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import reporting
from uhecr.jobs import rule_job

with rule_job(snakemake):
    reporting.render_validation_table(
        snakemake.input[0], snakemake.output.markdown, snakemake.output.latex
    )
