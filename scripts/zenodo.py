"""Rule zenodo: the archive bundle (results tree, figures, config, envs, provenance, manifest)."""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import archive
from uhecr.jobs import rule_job

with rule_job(snakemake) as log:
    p = snakemake.params
    record = json.loads(Path(snakemake.input.provenance).read_text())
    sources = [*snakemake.input.results, *snakemake.input.tables, *snakemake.input.figures]
    results_dir = os.path.commonpath([os.path.abspath(f) for f in sources])
    info = archive.build_bundle(
        Path(snakemake.output[0]),
        run_name=p.run_name,
        result_files={
            f"results/{Path(os.path.relpath(os.path.abspath(f), results_dir)).as_posix()}": f
            for f in sources
        },
        config=dict(p.config),
        repo=Path(snakemake.scriptdir).parent,
        provenance_file=snakemake.input.provenance,
        input_checksums=record["input_files"],
        code_url=archive.code_url_of(p.code_url, Path(snakemake.scriptdir).parent),
    )
    log.info("bundle %s", json.dumps(info))
