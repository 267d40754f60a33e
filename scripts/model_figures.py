"""Snakemake entry point; the logic is uhecr.workflow.model_figures."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import workflow

workflow.model_figures(snakemake)
