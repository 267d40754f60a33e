"""Rule applied_fractions_table: fitted primary fractions of every applied dataset and model."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import reporting
from uhecr.jobs import rule_job

with rule_job(snakemake):
    reporting.render_applied_fractions(
        list(snakemake.input), snakemake.output.markdown, snakemake.output.latex
    )
