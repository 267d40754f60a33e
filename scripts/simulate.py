"""Snakemake entry point; the logic is uhecr.workflow.simulate."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import workflow

workflow.simulate(snakemake)
