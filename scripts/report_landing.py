"""Rule report_landing: the HTML report's first page (description, results table and the
findings' summary, the same sentences as findings.md)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import findings, reporting
from uhecr.jobs import rule_job

with rule_job(snakemake):
    reporting.landing_page(
        snakemake.input.description,
        snakemake.input.reference,
        snakemake.output[0],
        snakemake.params.run_name,
        snakemake.params.categories,
    )
    findings.append_summary(snakemake.output[0], snakemake.input.findings)
