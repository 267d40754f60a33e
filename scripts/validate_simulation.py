"""Rule validate_simulation: the toy MC against the physics parameter sheet (numbers only)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import simulation_validation
from uhecr.jobs import rule_job, write_json

with rule_job(snakemake):
    checks = simulation_validation.run_checks(
        list(snakemake.input.raw),
        snakemake.input.table,
        snakemake.params.simulation,
        snakemake.params.seed,
    )
    write_json(snakemake.output[0], checks)
