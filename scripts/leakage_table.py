"""Snakemake entry point; the logic is uhecr.workflow.leakage_table."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import workflow

workflow.leakage_table(snakemake)
