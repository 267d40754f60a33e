"""Snakemake entry point; the logic is uhecr.workflow.extract_stations."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import workflow

workflow.extract_stations(snakemake)
