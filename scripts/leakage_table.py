"""Rule leakage_table: the leakage study as Markdown and LaTeX tables."""

import sys
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import reporting
from uhecr.jobs import rule_job

with rule_job(snakemake):
    reporting.render_leakage(snakemake.input[0], Path(snakemake.output.markdown).with_suffix(""))
