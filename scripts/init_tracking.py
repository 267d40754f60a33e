"""Rule init_tracking: create the MLflow store and the run's sweep experiment once."""

import json
import sys
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import search
from uhecr.jobs import rule_job

with rule_job(snakemake) as log:
    p = snakemake.params
    uri = search.tracking_uri_for(p.tracking_uri, p.mlflow_db)
    artifacts = None if p.tracking_uri else Path(p.mlflow_db).parent / "artifacts"
    info = search.init_tracking(uri, f"{p.run_name}-sweeps", artifacts)
    Path(snakemake.output[0]).write_text(json.dumps(info, indent=2))
    log.info("tracking %s", json.dumps(info))
