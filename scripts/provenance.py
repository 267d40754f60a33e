"""Rule provenance: git commit, config hash, input and result checksums, packages, timings."""

import json
import sys
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import provenance
from uhecr.jobs import read_json_per_model, rule_job

with rule_job(snakemake):
    p = snakemake.params
    extracted = [json.loads(Path(f).read_text()) for f in snakemake.input.summaries]
    best = read_json_per_model(p.models, snakemake.input.best)
    record = provenance.run_provenance(
        dict(p.config),
        {f["file"]: f["sha256"] for s in extracted for f in s["files"]},
        list(snakemake.input.results),
        best,
        provenance.rule_timings(list(snakemake.input.benchmarks)),
        repo=Path(snakemake.scriptdir).parent,
    )
    Path(snakemake.output.json).write_text(json.dumps(record, indent=2, default=str))
    Path(snakemake.output.markdown).write_text(provenance.provenance_markdown(record))
