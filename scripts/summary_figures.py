"""Snakemake entry point; the logic is uhecr.workflow.summary_figures."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import workflow

workflow.summary_figures(snakemake)
