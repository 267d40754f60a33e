"""Rule create_study: the Optuna study of one sweep, named after a hash of all its inputs."""

import json
import sys
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import search
from uhecr.jobs import rule_job

with rule_job(snakemake) as log:
    p = snakemake.params
    model = p.model  # a replicate sweeps the same model with its own seed
    split_summary = json.loads(Path(snakemake.input.split_summary).read_text())
    data_fingerprint = {
        k: split_summary[k] for k in ("method", "seed", "table_sha256", "ids_sha256")
    }
    key = search.sweep_key(model, p.model_config, p.features, p.search, p.seed, data_fingerprint)
    info = search.create_study(
        model,
        study_name=f"{p.run_name}-{model}-{key}",
        storage=search.storage_for(p.search["storage"], snakemake.output.journal),
        tracking_uri=json.loads(Path(snakemake.input.tracking).read_text())["tracking_uri"],
        experiment=f"{p.run_name}-sweeps",
        config=p.model_config,
        seed=p.seed,
    )
    Path(snakemake.output.journal).touch()  # stays empty with an RDB storage
    info["sweep_key"] = key
    Path(snakemake.output.study).write_text(json.dumps(info, indent=2))
    log.info("study %s", json.dumps(info))
