"""Snakemake entry point; the logic is uhecr.workflow.paper."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import workflow

workflow.paper(snakemake)
