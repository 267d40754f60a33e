"""Rule leakage_table: the leakage study as Markdown and LaTeX tables."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import reporting
from uhecr.jobs import rule_job

with rule_job(snakemake):
    reporting.render_leakage(snakemake.input[0], snakemake.output.markdown, snakemake.output.latex)
