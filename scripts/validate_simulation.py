"""Snakemake entry point; the logic is uhecr.workflow.validate_simulation."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import workflow

workflow.validate_simulation(snakemake)
