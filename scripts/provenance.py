"""Snakemake entry point; the logic is uhecr.workflow.provenance."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import workflow

workflow.provenance(snakemake)
