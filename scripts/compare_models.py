"""Snakemake entry point; the logic is uhecr.workflow.compare_models."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import workflow

workflow.compare_models(snakemake)
