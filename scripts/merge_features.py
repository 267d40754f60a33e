"""Snakemake entry point; the logic is uhecr.workflow.merge_features."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import workflow

workflow.merge_features(snakemake)
