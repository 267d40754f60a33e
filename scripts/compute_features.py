"""Snakemake entry point; the logic is uhecr.workflow.compute_features."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import workflow

workflow.compute_features(snakemake)
