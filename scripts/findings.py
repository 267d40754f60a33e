"""Rule findings: findings.md from the run's own outputs (uhecr.findings)."""

import sys
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import findings
from uhecr.jobs import rule_job

with rule_job(snakemake) as log:
    p, i = snakemake.params, snakemake.input
    inputs = {
        "reference": i.reference,
        "comparisons": i.comparisons,
        "split": i.split,
        "replicates": i.replicates,
        "replicate_comparisons": i.replicate_comparisons,
        "best": dict(zip(p.models, i.best, strict=True)),
        "tables": dict(zip(p.tables, i.tables, strict=True)),
        "checks": i.get("checks"),
    }
    findings.write_findings(
        inputs,
        snakemake.output[0],
        run_name=p.run_name,
        config=p.config,
        code_root=Path(snakemake.scriptdir).parent,
    )
    log.info("findings written to %s", snakemake.output[0])
