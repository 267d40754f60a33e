"""Snakemake entry point; the logic is uhecr.workflow.search_worker."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import workflow

workflow.search_worker(snakemake)
