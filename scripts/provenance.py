"""Rule provenance: git commit, config hash, input and result checksums, packages, timings."""

import json
import sys
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import provenance
from uhecr.jobs import rule_job

with rule_job(snakemake):
    record = provenance.run_provenance(
        dict(snakemake.params.config),
        list(snakemake.input.raw),
        list(snakemake.input.results),
        snakemake.params.benchmarks,
        repo=Path(snakemake.scriptdir).parent,
    )
    Path(snakemake.output.json).write_text(json.dumps(record, indent=2, default=str))
    Path(snakemake.output.markdown).write_text(provenance.provenance_markdown(record))
