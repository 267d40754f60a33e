"""Rule validate_simulation: the toy MC against the physics parameter sheet (numbers only)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import simulation_validation
from uhecr.jobs import rule_job
from uhecr.uncertainty import json_safe

with rule_job(snakemake):
    checks = simulation_validation.run_checks(
        list(snakemake.input.raw),
        snakemake.input.table,
        snakemake.params.simulation,
        snakemake.params.seed,
    )
    Path(snakemake.output[0]).write_text(json.dumps(json_safe(checks), indent=2, allow_nan=False))
