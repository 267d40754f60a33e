"""Snakemake entry point; the logic is uhecr.workflow.zenodo."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import workflow

workflow.zenodo(snakemake)
