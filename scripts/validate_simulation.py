"""Rule validate_simulation: the toy MC against the physics parameter sheet. Writes every
check; fails the job when one is outside its tolerance, unless on_failure is "warn"."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import simulation_validation
from uhecr.jobs import rule_job, write_json

with rule_job(snakemake) as log:
    checks = simulation_validation.run_checks(
        list(snakemake.input.raw),
        list(snakemake.input.tables),
        snakemake.params.simulation,
        snakemake.params.seed,
    )
    write_json(snakemake.output[0], checks)
    simulation_validation.enforce(checks, snakemake.params.simulation["validation"], log)
