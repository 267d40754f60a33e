"""Snakemake entry point; the logic is uhecr.workflow.collect_search."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import workflow

workflow.collect_search(snakemake)
