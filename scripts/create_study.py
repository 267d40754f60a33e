"""Snakemake entry point; the logic is uhecr.workflow.create_study."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import workflow

workflow.create_study(snakemake)
